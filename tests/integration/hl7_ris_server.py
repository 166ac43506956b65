#!/usr/bin/python3
"""A stand-in RIS for the HL7 integration test, built on python3-hl7 (hl7.mllp).

Listens on 127.0.0.1 (a free port, written to --port-file), reads MLLP frames,
parses each message with hl7.parse, stores its bytes as
OUT_DIR/<n>_<MSH-10>.hl7 and answers with python3-hl7's create_ack():
AA, AE or AR as --mode says (AE/AR carry MSA-3 "rejected by test RIS");
--mode silent never answers, --mode close drops the connection after reading.
A message hl7.parse cannot read is answered AR and stored as <n>_unparsed.hl7.
"""
import argparse
import asyncio
import os
import sys

import hl7
from hl7.mllp import start_hl7_server


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


async def serve(args):
    state = {"n": 0}

    async def on_client(reader, writer):
        try:
            while not writer.is_closing():
                block = await reader.readblock()
                state["n"] += 1
                n = state["n"]
                try:
                    msg = hl7.parse(block.decode("utf-8"))
                    cid = str(msg["MSH.F10"])
                except Exception as e:  # the test checks the stored files
                    sys.stderr.write("RIS: cannot parse message %d: %s\n" % (n, e))
                    write_atomic(os.path.join(args.out_dir, "%d_unparsed.hl7" % n), block)
                    continue
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cid)
                write_atomic(os.path.join(args.out_dir, "%d_%s.hl7" % (n, safe)), block)
                if args.mode == "close":
                    writer.close()
                    return
                if args.mode == "silent":
                    await asyncio.sleep(3600)
                    return
                ack = msg.create_ack(ack_code=args.mode, application="RIS", facility="RADIOLOGY")
                if args.mode != "AA":
                    ack.segment("MSA").append(ack.create_field(["rejected by test RIS"]))
                writer.writemessage(ack)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await start_hl7_server(on_client, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    write_atomic(args.port_file, b"%d\n" % port)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--mode", choices=["AA", "AE", "AR", "silent", "close"], default="AA")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
