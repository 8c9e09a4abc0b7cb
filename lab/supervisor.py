"""The process runtime's supervisor: what Docker's ``restart: unless-stopped`` is to the
compose stack.

``twinshop up`` starts it in the background (its own session, its pid in ``state.json``)
and ``twinshop down`` stops it. Every half second it respawns each instance whose process
died while the state does not mark it stopped (``twinshop kill`` does): same port, same
version, then the unit's discovery file is rewritten. What it does goes to
``logs/supervisor.log``. It exits by itself when the state no longer names it.

    python -m lab.supervisor --home .twinshop
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
import traceback
from pathlib import Path
from types import FrameType

from lab.runtime import processes
from lab.runtime.process import ProcessRuntime
from lab.runtime.process_supervision import SupervisorRetired
from lab.state import StateDir


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def run(home: Path, *, interval: float = 0.5) -> int:
    state = StateDir(home.absolute())
    runtime = ProcessRuntime(state, host=str(state.load().get("host", "127.0.0.1")))
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()  # no printing here: a signal may land in the middle of a print

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log(f"supervising {state.root} every {interval} s")
    backoff: dict[int, tuple[int, float, float]] = {}
    while not stopping.is_set():
        try:
            for message in runtime.supervise_once(backoff):
                log(message)
        except SupervisorRetired as exc:
            log(f"exiting: {exc}")
            break
        except Exception:
            log("a round failed; trying again:\n" + traceback.format_exc())
        processes.reap()
        stopping.wait(interval)
    log("stopped" if stopping.is_set() else "done")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", required=True, help="the state directory ($TWINSHOP_HOME)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    args = parser.parse_args(argv)
    return run(Path(args.home), interval=args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
