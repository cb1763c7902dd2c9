"""``gankit lab``: a toy GAN training live in the browser (see docs/lab.md)."""

from __future__ import annotations

import sys

from gankit.cli import command


@command("lab", help="watch and steer a toy GAN as it trains, live in the browser")
def configure(p):
    p.add_argument("--port", type=int, default=8765, help="port to serve on (default 8765; 0: any free one)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1, this machine only); another one serves the "
        "lab to the network, with a warning",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument(
        "--data", default=None, help="starting data (default 8gaussians; any toy set or dist:SPEC)"
    )
    p.add_argument("--loss", default=None, help="starting objective (default ns)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any starting setting, as in gankit train, e.g. recipe=critic or recipe.q=normal(0,2)",
    )
    p.add_argument("--out", default="runs", metavar="DIR", help="where 'save this run' writes (default runs)")
    p.add_argument(
        "--fps", type=float, default=10.0, help="frames per second sent while training (default 10)"
    )

    def run(args):
        from gankit import config as config_mod
        from gankit.errors import ConfigError

        try:
            from gankit.lab.server import is_loopback, serve
        except ImportError as e:
            raise ConfigError(
                f"gankit lab needs the lab extra ({e.name} is missing): pip install 'gankit[lab]'"
            ) from None
        from gankit.lab import settings as S
        from gankit.lab.session import LabSession

        if not 0 <= args.port <= 65535:
            raise ConfigError(f"--port {args.port}: expected 0 to 65535")
        if not 0 < args.fps <= 60:
            raise ConfigError(f"--fps {args.fps}: expected a number in (0, 60]")
        start = dict(S.DEFAULTS)
        for key in ("data", "loss"):
            if getattr(args, key):
                start[key] = getattr(args, key)
        for assignment in args.set:
            config_mod.apply_set(start, assignment)
        if not is_loopback(args.host):
            sys.stderr.write(
                f"gankit: warning: --host {args.host} serves the lab beyond this machine: anyone who "
                "reaches it can steer training and write run folders here\n"
            )
        session = LabSession(start, fps=args.fps, runs_dir=args.out)
        serve(session, args.host, args.port, open_browser=args.open)
        return 0

    return run
