# Sourced (before bindings/python/devenv.sh) by the scripts that run the official LiveKit SDKs
# beside lkcore's binding: tests/suites/interop.sh and tests/bench/sdkcompare/run.sh. The
# SDK (`livekit` from PyPI, which runs the Rust SDK through livekit-ffi) and what it needs,
# pinned; devenv.sh installs them and the lkcore package into one venv. numpy 2.2 still supports
# Python 3.10, as lkcore does. pyflakes checks the scripts that use them. Playwright drives the
# official JS client (tests/interop/js, pinned in its package.json) in Debian's Chromium.
py_venv="$root/build/interop-venv"
py_extra_pkgs=(livekit==1.2.1 aiofiles==25.1.0 numpy==2.2.6 pyflakes==3.4.0 playwright==1.65.3)
