# Thin wrapper giving the README's commands. The real build is CMake (build/),
# plus an ASan+UBSan build of the whole suite (build-asan/) that `make test` runs.
JOBS ?= $(shell nproc)
RUN_ARGS ?=

.PHONY: all deps build run test test-fast asan fuzz bench clean format

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

run: deps build
	./build/radnode serve $(RUN_ARGS)

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRN_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

test: deps build asan
	cd build && ctest --output-on-failure -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		ctest --output-on-failure -j$(JOBS) -E '^integ_.*_slow$$'

test-fast: build
	cd build && ctest --output-on-failure -j$(JOBS)

fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRN_SANITIZE=ON -DRN_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

bench: build
	@for b in bench/bench_*.sh; do bash $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v _generated)

clean:
	rm -rf build build-asan build-fuzz
