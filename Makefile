# Parley: a thin driver over CMake (CMake is the build; README.md's "Two commands"
# is the contract of these targets).
#
#   make build   configure + build in build/ (warnings are errors)
#   make run     install missing packages, build, start the whole stack (scripts/run-stack.sh)
#   make test    install missing packages, build normal (build/) and ASan+UBSan
#                (build-san/), run every unit and integration test in both
#   make fuzz    build the libFuzzer targets with clang in build-fuzz/ and run each of
#                FUZZ_TARGETS for FUZZ_TIME seconds (default 60)
#   make chaos   build, then run the chaos harness (tests/chaos, docs/reliability.md):
#                CHAOS_ROUNDS rounds (default 200); CHAOS_ARGS adds options
#                (--seed S --faults gateway,pg,...) to replay a run
#   make clean   remove the build directories (keeps .run/, the dev stack's data)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BUILD_DIR ?= build
SAN_DIR   ?= build-san
FUZZ_DIR  ?= build-fuzz
FUZZ_TIME ?= 60
FUZZ_TARGETS ?= sio json json_diff proto jwt envelope
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
IT_DIR    := tests/integration
CHAOS_ROUNDS ?= 200
CHAOS_ARGS ?=

.PHONY: all build build-san deps npm run test chaos fuzz clean

all: build

deps:
	scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD_DIR) -DPARLEY_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)

build-san:
	cmake -S . -B $(SAN_DIR) -DPARLEY_WERROR=ON -DPARLEY_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(SAN_DIR) -j $(JOBS)

# npm ci only when the lock file changed since the last install.
npm: $(IT_DIR)/node_modules/.package-lock.json
$(IT_DIR)/node_modules/.package-lock.json: $(IT_DIR)/package.json $(IT_DIR)/package-lock.json
	cd $(IT_DIR) && npm ci --no-audit --no-fund

# Steps in order (not as parallel prerequisites): packages first, then builds.
run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	PARLEY_BIN_DIR=$(CURDIR)/$(BUILD_DIR)/bin scripts/run-stack.sh

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory npm
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory build-san
	scripts/run-tests.sh $(BUILD_DIR) $(SAN_DIR)

chaos:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory npm
	@$(MAKE) --no-print-directory build
	PARLEY_BIN_DIR=$(CURDIR)/$(BUILD_DIR)/bin PARLEY_CHAOS_DIR=$(CURDIR)/$(BUILD_DIR)/chaos \
	  node tests/chaos/chaos.mjs --rounds $(CHAOS_ROUNDS) $(CHAOS_ARGS)

# libFuzzer needs clang; new inputs it finds go to $(FUZZ_DIR)/corpus, the seeds stay.
# FUZZ_TARGETS=json runs one (docs/fuzzing.md).
fuzz:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_C_COMPILER=clang -DPARLEY_FUZZ=ON $(CMAKE_ARGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	scripts/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_TIME) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR) $(FUZZ_DIR)
