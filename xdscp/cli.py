"""argv to one call into `xdscp.app`, then print and exit. The verbs are listed in VERBS."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from xdscp import app, logs
from xdscp.translate import Options
from xdscp.translate.names import LOCAL_CLUSTER


def _serve(args: argparse.Namespace) -> int:
    if bool(args.paths) == args.kubernetes:
        print("xdscp serve: give YAML files or directories, or --kubernetes", file=sys.stderr)
        return 2
    config = app.ServeConfig(
        paths=tuple(args.paths),
        xds_address=args.xds_address,
        admin_host=args.admin_host,
        admin_port=args.admin_port,
        listener_address=args.listener_address,
        local_cluster=args.local_cluster,
        max_message_bytes=args.max_message_bytes,
        max_concurrent_streams=args.max_concurrent_streams,
        limits=app.Limits(**{field: getattr(args, field) for field in app.BOUNDS}),
        ready_file=args.ready_file,
        tls=app.TlsConfig(args.tls_cert, args.tls_key, args.tls_client_ca)
        if args.tls_cert and args.tls_key
        else None,
        kubernetes=_kubernetes(args) if args.kubernetes else None,
    )
    asyncio.run(app.serve(config))
    return 0


def _kubernetes(args: argparse.Namespace) -> app.KubernetesConfig:
    return app.KubernetesConfig(
        kubeconfig=args.kubeconfig,
        namespaces=tuple(args.namespace),
        lease_namespace=args.lease_namespace,
        lease_name=args.lease_name,
        identity=args.pod_name,
        lease_duration=args.lease_duration,
    )


def _validate(args: argparse.Namespace) -> int:
    problems = app.validate(tuple(args.paths))
    for problem in problems:
        print(problem)
    if not problems:
        print("all valid")
    return 1 if problems else 0


def _render(args: argparse.Namespace) -> int:
    options = Options(listener_address=args.listener_address, local_cluster=args.local_cluster)
    sys.stdout.write(app.render_files(tuple(args.paths), args.output, args.explain, options))
    return 0


def _verify(args: argparse.Namespace) -> int:
    checks = app.verify(args.admin, tuple(args.paths))
    for check in checks:
        print(check)
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    sys.stdout.write(app.status_table(args.admin))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from xdscp import demo  # needs the demo extra (Envoy, httpbin), not the server

    return demo.run(args.root, args.once)


def _add_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, help="YAML files or directories")
    _add_kubernetes(parser)
    parser.add_argument("--xds-address", default="0.0.0.0:18000", help="gRPC ADS address")
    parser.add_argument("--admin-host", default="127.0.0.1", help="admin HTTP host")
    parser.add_argument("--admin-port", type=int, default=9901, help="admin HTTP port (0: any)")
    parser.add_argument("--listener-address", default="0.0.0.0", help="Gateway listeners bind")
    _add_local_cluster(parser)
    parser.add_argument("--max-message-bytes", type=int, default=app.DEFAULT_MAX_MESSAGE_BYTES)
    parser.add_argument("--max-concurrent-streams", type=int, default=0, help="0: no limit")
    parser.add_argument("--ready-file", type=Path, help="write bound ports here as JSON")
    parser.add_argument("--tls-cert", type=Path, help="serve xDS over TLS with this certificate")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key")
    parser.add_argument(
        "--tls-client-ca",
        type=Path,
        help="require client certificates from this CA (mutual TLS); a certificate may then "
        "only request the node id or cluster it names",
    )
    bounds = parser.add_argument_group(
        "what one xDS client may send (a stream over a bound is ended, the others go on)"
    )
    defaults = app.Limits()
    for bound in app.BOUNDS.values():
        bounds.add_argument(
            bound.flag,
            dest=bound.field,
            metavar="N",
            type=int,
            default=getattr(defaults, bound.field),
            help=f"{bound.what} (default %(default)s)",
        )


def _add_kubernetes(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kubernetes mode (instead of paths)")
    group.add_argument(
        "--kubernetes", action="store_true", help="watch an API server; write policy status"
    )
    group.add_argument(
        "--kubeconfig", type=Path, help="default: in-cluster, else $KUBECONFIG or ~/.kube/config"
    )
    group.add_argument(
        "--namespace", action="append", default=[], help="watch only this one (repeatable)"
    )
    group.add_argument("--lease-namespace", help="default: $POD_NAMESPACE, else the pod's own")
    group.add_argument("--lease-name", default="xdscp", help="the Lease replicas elect on")
    group.add_argument("--pod-name", help="this replica's identity; default: hostname_random")
    group.add_argument("--lease-duration", type=int, default=15, help="seconds (default 15)")


def _add_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path)


def _add_render(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--explain", action="store_true", help="add policy status and provenance")
    parser.add_argument("--listener-address", default="0.0.0.0")
    _add_local_cluster(parser)


def _add_local_cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local-cluster",
        type=_service_ref,
        metavar="NAMESPACE/SERVICE",
        help=f"the proxies' own Service: its endpoints become the EDS cluster {LOCAL_CLUSTER} "
        "that zone-aware routing needs (cluster_manager.local_cluster_name)",
    )


def _service_ref(text: str) -> tuple[str, str]:
    namespace, _, name = text.rpartition("/")
    if not name or "/" in namespace:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAMESPACE/SERVICE")
    return (namespace or "default", name)


def _add_verify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--admin", default="http://127.0.0.1:19000", help="Envoy's admin URL")


def _add_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin", default="http://127.0.0.1:9901", help="xdscp's admin URL")


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="exit after the proof")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="holds policies/, envoy/")


Verb = tuple[
    str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]
]
VERBS: tuple[Verb, ...] = (
    ("serve", "serve xDS to Envoys from YAML files", _add_serve, _serve),
    ("validate", "check files; exit 1 listing every problem", _add_validate, _validate),
    ("render", "print the Envoy resources files translate to", _add_render, _render),
    ("verify", "check a live Envoy's clusters against files", _add_verify, _verify),
    ("status", "which Envoy has ACKed which version, per type", _add_status, _status),
    ("demo", "run the guide with real httpbin, xdscp and Envoy", _add_demo, _demo),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xdscp", description="A control plane for Envoy.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for name, summary, add_arguments, run in VERBS:
        sub = verbs.add_parser(name, help=summary, description=summary)
        add_arguments(sub)
        sub.set_defaults(run=run)
    args = parser.parse_args(argv)
    logs.configure(args.verbose, args.log_format)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
