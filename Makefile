# Thin wrapper around CMake: `make run` trains the default model, `make test` runs the test suite.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Configure and compile (no package installation).
COMPILE = cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release && cmake --build $(BUILD) -j $(JOBS)

.PHONY: all deps deps-run build run test bench clean

all: build

# Every package (tests, benchmarks); deps-run only what building and training need.
deps:
	bash scripts/install-deps.sh test

deps-run:
	bash scripts/install-deps.sh run

build: deps
	$(COMPILE)

run: deps-run
	$(COMPILE)
	./$(BUILD)/clvae train -c config/default.ini

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD)
