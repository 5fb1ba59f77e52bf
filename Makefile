# epoll-lab. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
PROJECT ?= epoll-lab
LAB := $(PY) -m lab
# Labs in parallel (pytest-xdist workers): two per core, since a lab mostly waits (on its clients, on deadlines,
# on settle bounds). On 2 cores, 4 keep the machine about 60 % busy; 5 crowded the canary's latency into false
# alarms. The settle checks judge the probe's streamed readings by the time they were taken, so a loaded machine
# delays a verdict but does not change it. worksteal: a worker that runs dry takes half of a busy one's queue, so
# the run ends evenly rather than on one worker's last few cases.
WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
XDIST := -n $(WORKERS) --dist worksteal

.DEFAULT_GOAL := help
.PHONY: help prepare venv images lab-up lab-down lab-clean lab-status lab-logs test unit chaos zoo repro scorecard \
	scorecard-nginx board-images board lint bench fuzz flood findings

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

prepare: ## make this machine ready: Docker engine (installed and started when root on Debian), .venv, images
	@bash lab/prepare.sh all

venv: ## the pinned Python environment only
	@bash lab/prepare.sh venv

images: venv ## build the lab's images (offline stand-ins when no registry answers)
	@$(LAB) images

lab-up: prepare ## bring a lab up and print its endpoints (PROJECT=..., LAB_TARGET_IMAGE=..., LAB_TARGET_PORT=...)
	@$(LAB) up --project $(PROJECT)

lab-down: venv ## take down the lab that `make lab-up` started (PROJECT=...); other labs are left alone
	@$(LAB) down --project $(PROJECT)

lab-clean: venv ## sweep every lab on the machine, a running test session's too: nothing with the lab's labels is left
	@$(LAB) down --all

lab-status: venv ## print the running lab's endpoints (add ARGS=--json)
	@$(LAB) status --project $(PROJECT) $(ARGS)

lab-logs: venv ## print the lab's container logs
	@$(LAB) logs --project $(PROJECT)

test: prepare ## the whole suite: unit tests, the lab, the chaos catalog, the bug zoo (parallel; JUnit in reports/)
	@$(PYTEST) $(XDIST) -m "not heavy" --junitxml=reports/junit.xml $(ARGS)

unit: venv ## the tests that need no Docker (server, clients, checkers)
	@$(PYTEST) -n auto -m "not docker" $(ARGS)

chaos: prepare ## the chaos catalog against the target (LAB_TARGET_IMAGE / LAB_TARGET_PORT for any image)
	@$(PYTEST) $(XDIST) -m "not heavy" tests/chaos $(ARGS)

flood: prepare ## the heavy cases alone, one at a time (fleet_16000: 16,000 connections from 4 clients containers)
	@$(PYTEST) -m heavy tests/chaos $(ARGS)

zoo: prepare ## the bug zoo: every broken server variant must be caught, the clean one must pass
	@$(PYTEST) $(XDIST) -m zoo tests/zoo tests/chaos $(ARGS)

REPRO_BUNDLE = reports/repro/$(CASE)-$(SEED)$(if $(TRIGGER),-$(TRIGGER))$(if $(BUG),-$(BUG)).tar.gz
repro: prepare ## rerun one case exactly, with capture, into one archive: make repro CASE=<id> SEED=<n> [TRIGGER=] [BUG=]
	@test -n "$(CASE)" -a -n "$(SEED)" || { echo "usage: make repro CASE=<id> SEED=<n> [TRIGGER=] [BUG=]" >&2; exit 2; }
	@$(LAB) run $(CASE) --seed $(SEED) $(if $(TRIGGER),--trigger $(TRIGGER)) $(if $(BUG),--bug $(BUG)) \
		--capture --bundle $(REPRO_BUNDLE) $(ARGS)

scorecard: prepare ## case × target outcomes (TARGET_IMAGE=... TARGET_PORT=..., ZOO=1 for the zoo, ARGS=--json)
	@$(LAB) scorecard $(if $(TARGET_IMAGE),--target-image $(TARGET_IMAGE)) \
		$(if $(TARGET_PORT),--target-port $(TARGET_PORT)) $(if $(ZOO),--zoo) $(ARGS)

scorecard-nginx: prepare ## the catalog against nginx (Debian nginx-light, the lab's deadlines)
	@$(LAB) scorecard --profile nginx $(ARGS)

board-images: prepare ## build every board server's image, one at a time (lab/images/, docs/board.md)
	@$(LAB) images --board

board: board-images ## every case against every board server: reports/board/<time>/index.html (SEED=..., ARGS=...)
	@$(LAB) board $(if $(SEED),--seed $(SEED)) $(ARGS)

findings: prepare ## each finding's server and its standalone reproducer: "confirmed", and "not affected" on a control
	@$(LAB) findings $(ARGS)

bench: ## benchmarks: ours vs nginx, uvicorn, asyncio; syscalls/request; C10K; the lab's speed (results/; the docs table only from a clean tree)
	@bash bench/run.sh $(ARGS)

fuzz: venv ## fuzz the request parser, coverage-guided (atheris): FUZZ_SECONDS=300 by default; corpus in reports/fuzz/
	@mkdir -p reports/fuzz
	@$(PY) -m tests.server.fuzz_parser -max_total_time=$(or $(FUZZ_SECONDS),300) -print_final_stats=1 \
		-artifact_prefix=reports/fuzz/ reports/fuzz/corpus

# actionlint reads action.yml through the example workflow's `uses: ./` (it lints no action file alone); its
# shellcheck and pyflakes passes are off, so the result does not depend on what else this machine has installed.
lint: venv ## ruff, mypy, and actionlint on the workflows and the Action (actionlint built from its Go module)
	@$(VENV)/bin/ruff check . && $(VENV)/bin/mypy server clients lab tests bench findings build_backend
	@actionlint=$$(bash lab/prepare.sh actionlint) && "$$actionlint" -shellcheck= -pyflakes= .github/workflows/*.yml
