# graceproof: developer entry points. `make` (or `make help`) lists them.
# Recipes stay short; the longer logic lives in hack/.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3## interpreter that creates the venv
VENV ?= .venv## virtualenv folder
PROVIDER ?= auto## cluster for e2e/images: auto|kind|local (auto: kind if docker and kind work)
NODES ?= 2## nodes of the local cluster (1-4): drains need 2 or more
# The tests read it: with 2 or more, a cluster of fewer nodes fails the node proofs
# instead of skipping them.
export NODES
K8S_VERSION ?= 1.34## Kubernetes minor for kind (1.34..1.37; the plugin pins its node image)
CLUSTER_NAME ?= graceproof## name of the kind cluster
KIND_NODE_IMAGE ?=## kind node image instead of the pinned one (with hack/docker.sh's engine: hack/kind-node-image.sh's)
KUBE_PROXY_MODE ?=## kube-proxy's mode: iptables (the default) or nftables, of the kind cluster or the local one (which then serves no NodePort on 127.0.0.1)
E2E_TESTS ?= tests/e2e## what e2e/e2e-kind/e2e-local run (a folder, a file, a test id)
REPORT_DIR ?= reports## where the e2e proofs write their reports
ARTIFACTS_DIR ?= artifacts## logs, events and timelines kept from the runs
PYTEST_ARGS ?=## extra pytest arguments, e.g. PYTEST_ARGS='-x -k drain'
# In CI (CI set, and not to false or 0) a missing shellcheck is never skipped.
ifneq ($(filter-out false 0,$(CI)),)
REQUIRE_SHELLCHECK ?= 1
endif
REQUIRE_SHELLCHECK ?= 0## 1 (the default when CI is set): lint installs a missing shellcheck as root, else fails

# The tag the manifests use; pinned with the other versions in hack/versions.env.
ifndef WORKLOAD_IMAGE
WORKLOAD_IMAGE := $(shell sed -n 's/^WORKLOAD_IMAGE=//p' hack/versions.env)
endif
# State of hack/local-cluster.sh, which honours the same variable.
LOCAL_CLUSTER_DIR := $(or $(GRACEPROOF_LOCAL_CLUSTER_DIR),.local-cluster)
LOCAL_KUBECONFIG ?= $(LOCAL_CLUSTER_DIR)/kubeconfig
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.graceproof-installed
SHELL_SCRIPTS := $(wildcard hack/*.sh hack/kind-images/iptables-wrapper examples/*/*.sh .ci/run)

# How `make clean` removes graceproof-labelled namespaces from the local cluster
# while it runs. Adjust here if the CLI spells it differently.
CLEAN_NAMESPACES_CMD ?= $(VENV)/bin/graceproof clean --all --kubeconfig $(LOCAL_KUBECONFIG)

# pytest options per provider; the plugin documents each --gp-* option.
GP_COMMON_OPTS = --gp-report-dir $(REPORT_DIR) --gp-artifacts $(ARTIFACTS_DIR) --gp-image $(WORKLOAD_IMAGE) \
	$(if $(KUBE_PROXY_MODE),--gp-kube-proxy-mode $(KUBE_PROXY_MODE))
GP_KIND_OPTS = --gp-provider kind --gp-k8s-version $(K8S_VERSION) --gp-cluster-name $(CLUSTER_NAME) $(GP_COMMON_OPTS)
GP_LOCAL_OPTS = --gp-provider existing --gp-kubeconfig $(LOCAL_KUBECONFIG) $(GP_COMMON_OPTS)

# The images of the local cluster's core proofs, made (and imported) by hack/, each
# assigned before it is exported: `export X=$$(cmd)` would hide a failed cmd. What only
# some tests need (Traefik, the nginx example, helm) is built by a fixture when the
# first of them comes (tests/hack_builds.py), so the first verdict does not wait for it.
LOCAL_IMAGES = archive=$$(hack/images.sh); load=$$(hack/images.sh --no-import --print load); \
	export GRACEPROOF_LOAD_ARCHIVE=$$load

# Run a test command, then say where the report is whether it passed or not,
# and keep its exit status.
define then_report
rc=0; $(1) || rc=$$?; \
echo "graceproof: report in $(REPORT_DIR)/ (summary: $(REPORT_DIR)/summary.md), artifacts in $(ARTIFACTS_DIR)/"; \
exit $$rc
endef

.PHONY: help venv local-cluster local-cluster-down docker-up docker-down kind-node-image \
	images images-kind images-local bench bench-kind bench-local dist flaky \
	e2e e2e-kind e2e-local test unit lint clean

help: ## list the targets and the variables they take
	@echo "Usage: make TARGET [VARIABLE=value ...]"; echo; echo "Targets:"
	@awk -F ':.*## ' '/^[a-z][a-z0-9_-]*:.*## / { printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo; echo "Variables:"
	@awk -F ' *[?]= *|## ' '/^[A-Z0-9_]+ [?]=.*## / { d = $$2 == "" ? "" : " (default: " $$2 ")"; \
	  printf "  %-20s %s%s\n", $$1, $$3, d }' $(MAKEFILE_LIST)

venv: $(VENV_STAMP) ## create the venv (VENV) and install graceproof with its dev tools

# Reinstalled only when pyproject.toml changes; an existing venv is kept.
$(VENV_STAMP): pyproject.toml
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -e '.[dev]'
	touch $@

local-cluster: ## bring up the local cluster of NODES nodes (hack/local-cluster.sh up)
	KUBE_PROXY_MODE='$(KUBE_PROXY_MODE)' hack/local-cluster.sh up --nodes $(NODES)

local-cluster-down: ## stop the local cluster
	hack/local-cluster.sh down

docker-up: ## start a Docker engine for kind on a machine without one (hack/docker.sh; not with the local cluster)
	hack/docker.sh up >/dev/null

docker-down: ## stop the Docker engine of docker-up (its images stay cached)
	hack/docker.sh down

kind-node-image: ## build a kind node image without a registry (needs docker-up); prints its tag
	hack/kind-node-image.sh

images: ## build the workload image for the chosen PROVIDER
	@provider=$$(hack/provider.sh '$(PROVIDER)') && $(MAKE) images-$$provider

# The images of the kind proofs, built by the user's Docker (their base images come
# from its registry).
DOCKER_BUILD_IMAGES = docker build -t $(WORKLOAD_IMAGE) workloads/ && \
	docker build -t $$(sed -n 's/^LOAD_IMAGE=//p' hack/versions.env) workloads/load/ && \
	docker build -t $$(sed -n 's/^EXAMPLE_NGINX_IMAGE=//p' hack/versions.env) examples/nginx/

images-kind:
	$(DOCKER_BUILD_IMAGES)

images-local:
	hack/images.sh

e2e: ## run the zero-downtime proofs on kind or the local cluster (see PROVIDER)
	@provider=$$(hack/provider.sh '$(PROVIDER)') && $(MAKE) e2e-$$provider

# Two ways to kind. With the engine of hack/docker.sh (a machine without a registry,
# like graceproof's CI): its DOCKER_HOST, kind built by hack/kind.sh, a node image built
# here, and every image loaded from the archives hack/ makes (`kind load image-archive`;
# GRACEPROOF_BUILD_ARCHIVES=1 has the fixtures make the rest when first needed),
# since no registry serves their base images either. Otherwise: the user's Docker and
# kind, the pinned node image, and the images built with docker.
e2e-kind: venv
	if hack/docker.sh status >/dev/null 2>&1; then \
	  eval "$$(hack/docker.sh env)"; kind_bin=$$(hack/kind.sh); PATH="$${kind_bin%/*}:$$PATH"; \
	  node='$(KIND_NODE_IMAGE)'; node=$${node:-$$(hack/kind-node-image.sh)}; \
	  archive=$$(hack/images.sh --no-import); load=$$(hack/images.sh --no-import --print load); \
	  export GRACEPROOF_LOAD_ARCHIVE=$$load GRACEPROOF_BUILD_ARCHIVES=1; \
	  [ -n '$(KIND_NODE_IMAGE)' ] || export GRACEPROOF_EXPECT_NODE_SHUTDOWN=1; \
	  set -- --gp-node-image "$$node" --gp-image-archive "$$archive"; \
	else \
	  $(DOCKER_BUILD_IMAGES); set -- $(if $(KIND_NODE_IMAGE),--gp-node-image '$(KIND_NODE_IMAGE)'); \
	fi; \
	$(call then_report,$(VENV_PY) -m pytest $(E2E_TESTS) $(GP_KIND_OPTS) "$$@" $(PYTEST_ARGS))

e2e-local: venv local-cluster
	$(LOCAL_IMAGES); \
	$(call then_report,$(VENV_PY) -m pytest $(E2E_TESTS) $(GP_LOCAL_OPTS) --gp-image-archive "$$archive" $(PYTEST_ARGS))

test: unit local-cluster ## unit tests, then the cluster and e2e tests on the local cluster, then down/up
	$(LOCAL_IMAGES); \
	$(call then_report,$(VENV_PY) -m pytest tests/cluster tests/e2e $(GP_LOCAL_OPTS) --gp-image-archive "$$archive" $(PYTEST_ARGS))
	GRACEPROOF_LIFECYCLE=1 $(VENV_PY) -m pytest tests/lifecycle -s $(PYTEST_ARGS)

unit: venv ## unit tests only (no cluster, no network)
	$(VENV_PY) -m pytest tests/unit -q $(PYTEST_ARGS)

lint: venv ## ruff, mypy, actionlint and the shell scripts (bash -n, shellcheck)
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy
	hack/actionlint.sh
	for f in $(SHELL_SCRIPTS); do bash -n "$$f"; done
	@if ! command -v shellcheck >/dev/null && [ "$(REQUIRE_SHELLCHECK)" = 1 ] && [ "$$(id -u)" = 0 ]; then \
	  echo "hack/local-cluster.sh deps (shellcheck is missing)"; \
	  hack/local-cluster.sh deps || echo "lint: hack/local-cluster.sh deps failed" >&2; fi
	@if command -v shellcheck >/dev/null; then \
	  echo "shellcheck $(SHELL_SCRIPTS)"; shellcheck -x -P SCRIPTDIR $(SHELL_SCRIPTS); \
	elif [ "$(REQUIRE_SHELLCHECK)" = 1 ]; then \
	  echo "lint: shellcheck is missing and REQUIRE_SHELLCHECK=1: install it (as root: hack/local-cluster.sh deps, or apt-get install -y shellcheck)" >&2; exit 1; \
	else echo "lint: shellcheck not found, skipped (hack/local-cluster.sh deps, or apt-get install -y shellcheck)"; fi

clean: ## delete what graceproof made: kind cluster, test namespaces, local cluster, reports
	@if command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx '$(CLUSTER_NAME)'; then \
	  echo "kind delete cluster --name $(CLUSTER_NAME)"; kind delete cluster --name '$(CLUSTER_NAME)'; fi
	@if hack/local-cluster.sh status >/dev/null 2>&1; then \
	  echo "$(CLEAN_NAMESPACES_CMD)"; \
	  $(CLEAN_NAMESPACES_CMD) || echo "clean: removing graceproof namespaces failed (see CLEAN_NAMESPACES_CMD)" >&2; fi
	@if [ -d '$(LOCAL_CLUSTER_DIR)' ]; then echo "hack/local-cluster.sh down"; hack/local-cluster.sh down; fi
	rm -rf -- '$(REPORT_DIR)' '$(ARTIFACTS_DIR)' '$(VENV_STAMP)'

dist: ## build the sdist and wheel into dist/ and check them (twine check --strict)
	hack/dist.sh

flaky: venv ## run the unit suite N times (default 10; LOAD busy cores beside it) and list every test that failed
	$(VENV_PY) benchmarks/flaky.py -n $(or $(N),10) --load $(or $(LOAD),0)

# The figures README's "kind against the local cluster" gives: propagation lag (K runs
# of 2 terminations per path), termination order (N runs), in-cluster load rate.
BENCH_RUNS = \
	$(VENV_PY) benchmarks/propagation.py -k $(or $(K),5) --traefik-archive "$$(hack/ingress.sh --no-import)" && \
	$(VENV_PY) benchmarks/termination_order.py -n $(or $(N),5) && \
	$(VENV_PY) benchmarks/in_cluster_load.py --workers 1 2 -k 2 \
	  --load-archive "$$(hack/images.sh --no-import --print load)"

bench-kind: venv ## the side-by-side figures on a kind cluster made for them (needs `make docker-up`)
	hack/kind-bench.sh bash -c '$(BENCH_RUNS)'

bench-local: venv local-cluster ## the same figures on the local cluster
	hack/images.sh >/dev/null
	GRACEPROOF_BENCH_KUBECONFIG=$(LOCAL_KUBECONFIG) bash -c '$(BENCH_RUNS)'

bench: venv local-cluster ## benchmarks on the local cluster: verdict tally (K pairs) and termination order (N runs)
	hack/images.sh >/dev/null
	$(VENV_PY) benchmarks/verdicts.py -k $(or $(K),5) --kubeconfig $(LOCAL_KUBECONFIG)
	$(VENV_PY) benchmarks/termination_order.py -n $(or $(N),5) --kubeconfig $(LOCAL_KUBECONFIG)
