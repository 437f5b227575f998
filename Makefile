# hpmon: build, emulate, test and deploy. `make run` and `make test` set everything up.
VENV      ?= .venv
PY        := $(VENV)/bin/python
MICROPY   := $(VENV)/bin/micropython
SCENARIO  ?= scenarios/default.json
HTTP_PORT ?= 8080
MQTT_HOST ?= 127.0.0.1
MQTT_PORT ?= 1883
HEAP      ?= 2M
PORT      ?= /dev/ttyUSB0
CONFIG    ?=
PYTEST_ARGS ?=

.PHONY: setup system-deps build check test test-upy run deploy clean

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# Stubs for the static check: ESP32 MicroPython, plus Microdot's own .pyi files.
typings/.installed: $(VENV)/.installed
	rm -rf typings
	$(VENV)/bin/pip install --quiet --no-user --target typings micropython-esp32-stubs==1.29.0.post1
	mkdir -p typings/microdot
	cp $$($(PY) -c "import microdot,os;print(os.path.dirname(microdot.__file__))")/*.pyi typings/microdot/
	touch $@

system-deps:
	@tools/system-deps.sh

setup: $(VENV)/.installed typings/.installed system-deps
	$(PY) -c "from tools import paths; paths.ensure_umqtt()"

build: $(VENV)/.installed
	$(PY) -m tools.build

check: setup
	$(VENV)/bin/ruff check firmware tools tests boot.py main.py swap.py
	$(VENV)/bin/mypy

test-upy: build
	MICROPYPATH=.:lib:.frozen $(MICROPY) -X heapsize=2M tests/upy_runner.py

# The README's test command; .ci/run calls it.
test: check build test-upy
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests selected"; rc=0; fi; exit $$rc

# The README's main job: the emulated board with the default scenario and a local broker.
run: setup build
	@tools/ensure-broker.sh $(MQTT_PORT)
	$(PY) -m tools.emulator --scenario $(SCENARIO) --http-port $(HTTP_PORT) \
		--mqtt-host $(MQTT_HOST) --mqtt-port $(MQTT_PORT) --heap $(HEAP)

# Copy the build to a board (or the emulator's virtual serial port) with mpremote.
deploy: build
	$(PY) -m tools.deploy --port $(PORT) $(if $(CONFIG),--config $(CONFIG),)

clean:
	rm -rf build lib/microdot .cache .emulator typings .pytest_cache .ruff_cache .mypy_cache
