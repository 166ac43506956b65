/*
 * The DICOM Upper Layer state machine (PS3.8 9.2): the state transition table
 * of Table 9-10 as data, the action definitions of Tables 9-6 to 9-9 reduced to
 * their next state and ARTIM effect, and the ARTIM timer (9.1.5). The
 * association code (assoc.c) turns every PDU received, every local primitive
 * and every transport event into an RnUlEvent, steps the machine and performs
 * the side effects of the returned action; a (state, event) pair without a
 * table entry is a protocol error answered with A-ABORT.
 */
#include "radnode/net.h"

#include <string.h>

#define A(x) RN_##x
/* Rows: Sta1..Sta13; columns: Evt1..Evt19. 0 = no entry. */
static const unsigned char table[13][19] = {
    /* Sta1 idle */
    {A(AE1), 0, 0, 0, A(AE5), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* Sta2 transport open, awaiting A-ASSOCIATE-RQ */
    {0, 0, A(AA1), A(AA1), 0, A(AE6), 0, 0, 0, A(AA1), 0, A(AA1), A(AA1), 0, 0, A(AA2), A(AA5),
     A(AA2), A(AA1)},
    /* Sta3 awaiting local A-ASSOCIATE response */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), A(AE7), A(AE8), 0, A(AA8), 0, A(AA8), A(AA8), 0, A(AA1),
     A(AA3), A(AA4), 0, A(AA8)},
    /* Sta4 awaiting transport connection open */
    {0, A(AE2), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, A(AA2), 0, A(AA4), 0, 0},
    /* Sta5 awaiting A-ASSOCIATE-AC or -RJ */
    {0, 0, A(AE3), A(AE4), 0, A(AA8), 0, 0, 0, A(AA8), 0, A(AA8), A(AA8), 0, A(AA1), A(AA3),
     A(AA4), 0, A(AA8)},
    /* Sta6 association established */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, A(DT1), A(DT2), A(AR1), A(AR2), A(AA8), 0, A(AA1),
     A(AA3), A(AA4), 0, A(AA8)},
    /* Sta7 awaiting A-RELEASE-RP */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, 0, A(AR6), 0, A(AR8), A(AR3), 0, A(AA1), A(AA3),
     A(AA4), 0, A(AA8)},
    /* Sta8 awaiting local A-RELEASE response */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, A(AR7), A(AA8), 0, A(AA8), A(AA8), A(AR4), A(AA1),
     A(AA3), A(AA4), 0, A(AA8)},
    /* Sta9 release collision, requestor, awaiting local A-RELEASE response */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, 0, A(AA8), 0, A(AA8), A(AA8), A(AR9), A(AA1),
     A(AA3), A(AA4), 0, A(AA8)},
    /* Sta10 release collision, acceptor, awaiting A-RELEASE-RP */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, 0, A(AA8), 0, A(AA8), A(AR10), 0, A(AA1), A(AA3),
     A(AA4), 0, A(AA8)},
    /* Sta11 release collision, requestor, awaiting A-RELEASE-RP */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, 0, A(AA8), 0, A(AA8), A(AR3), 0, A(AA1), A(AA3),
     A(AA4), 0, A(AA8)},
    /* Sta12 release collision, acceptor, awaiting local A-RELEASE response */
    {0, 0, A(AA8), A(AA8), 0, A(AA8), 0, 0, 0, A(AA8), 0, A(AA8), A(AA8), A(AR4), A(AA1),
     A(AA3), A(AA4), 0, A(AA8)},
    /* Sta13 awaiting transport connection close */
    {0, 0, A(AA6), A(AA6), 0, A(AA7), 0, 0, 0, A(AA6), 0, A(AA6), A(AA6), 0, 0, A(AA2), A(AR5),
     A(AA2), A(AA7)},
};
#undef A

void rn_ul_fsm_init(RnUlFsm *fsm, bool requestor, double artim_timeout_s)
{
    memset(fsm, 0, sizeof *fsm);
    fsm->state = RN_STA1;
    fsm->requestor = requestor;
    fsm->artim_timeout_s = artim_timeout_s > 0 ? artim_timeout_s : 30.0;
}

RnUlAction rn_ul_fsm_lookup(RnUlState state, RnUlEvent event)
{
    if (state < RN_STA1 || state > RN_STA13 || event < RN_EVT1 || event > RN_EVT19)
        return RN_ACT_INVALID;
    return (RnUlAction)table[state - 1][event - 1];
}

static void artim_start(RnUlFsm *fsm)
{
    fsm->artim_running = true;
    fsm->artim_deadline = rn_time_now() + fsm->artim_timeout_s;
}

static void artim_stop(RnUlFsm *fsm) { fsm->artim_running = false; }

RnUlAction rn_ul_fsm_step(RnUlFsm *fsm, RnUlEvent event, bool accept)
{
    RnUlAction a = rn_ul_fsm_lookup(fsm->state, event);
    switch (a) {
    case RN_AE1: fsm->state = RN_STA4; break;
    case RN_AE2: fsm->state = RN_STA5; break;
    case RN_AE3: fsm->state = RN_STA6; break;
    case RN_AE4: fsm->state = RN_STA1; break;
    case RN_AE5: fsm->state = RN_STA2; artim_start(fsm); break;
    case RN_AE6:
        /* Stop ARTIM; acceptable -> indication (Sta3), else A-ASSOCIATE-RJ,
         * start ARTIM, Sta13. */
        artim_stop(fsm);
        if (accept) {
            fsm->state = RN_STA3;
        } else {
            artim_start(fsm);
            fsm->state = RN_STA13;
        }
        break;
    case RN_AE7: fsm->state = RN_STA6; break;
    case RN_AE8: fsm->state = RN_STA13; artim_start(fsm); break;
    case RN_DT1: case RN_DT2: fsm->state = RN_STA6; break;
    case RN_AR1: fsm->state = RN_STA7; break;
    case RN_AR2: fsm->state = RN_STA8; break;
    case RN_AR3: fsm->state = RN_STA1; break;
    case RN_AR4: fsm->state = RN_STA13; artim_start(fsm); break;
    case RN_AR5: fsm->state = RN_STA1; artim_stop(fsm); break;
    case RN_AR6: fsm->state = RN_STA7; break;
    case RN_AR7: fsm->state = RN_STA8; break;
    case RN_AR8: fsm->state = fsm->requestor ? RN_STA9 : RN_STA10; break;
    case RN_AR9: fsm->state = RN_STA11; break;
    case RN_AR10: fsm->state = RN_STA12; break;
    case RN_AA1: fsm->state = RN_STA13; artim_start(fsm); break;
    case RN_AA2: fsm->state = RN_STA1; artim_stop(fsm); break;
    case RN_AA3: fsm->state = RN_STA1; break;
    case RN_AA4: fsm->state = RN_STA1; break;
    case RN_AA5: fsm->state = RN_STA1; artim_stop(fsm); break;
    case RN_AA6: fsm->state = RN_STA13; break;
    case RN_AA7: fsm->state = RN_STA13; break;
    case RN_AA8: fsm->state = RN_STA13; artim_start(fsm); break;
    case RN_ACT_INVALID:
    default:
        /* Not in the table: the caller aborts; the machine waits for the close. */
        fsm->state = RN_STA13;
        artim_start(fsm);
        return RN_ACT_INVALID;
    }
    return a;
}

const char *rn_ul_action_name(RnUlAction a)
{
    static const char *const names[] = {
        "invalid", "AE-1", "AE-2", "AE-3", "AE-4", "AE-5", "AE-6", "AE-7", "AE-8", "DT-1",
        "DT-2", "AR-1", "AR-2", "AR-3", "AR-4", "AR-5", "AR-6", "AR-7", "AR-8", "AR-9",
        "AR-10", "AA-1", "AA-2", "AA-3", "AA-4", "AA-5", "AA-6", "AA-7", "AA-8",
    };
    if ((unsigned)a >= sizeof names / sizeof names[0])
        return "invalid";
    return names[a];
}

RnUlEvent rn_ul_event_for_pdu(uint8_t type)
{
    switch (type) {
    case RN_PDU_ASSOCIATE_RQ: return RN_EVT6;
    case RN_PDU_ASSOCIATE_AC: return RN_EVT3;
    case RN_PDU_ASSOCIATE_RJ: return RN_EVT4;
    case RN_PDU_P_DATA_TF: return RN_EVT10;
    case RN_PDU_RELEASE_RQ: return RN_EVT12;
    case RN_PDU_RELEASE_RP: return RN_EVT13;
    case RN_PDU_ABORT: return RN_EVT16;
    default: return RN_EVT19;
    }
}
