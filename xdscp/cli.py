"""argv to one call into `xdscp.app`, then print and exit. The verbs are listed in VERBS.

A mistake in how xdscp was run is one line on stderr and an exit code (EXIT_CODES), never a
traceback: argparse's errors, and every `UserError` the verbs raise.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

from xdscp import app, demo, logs
from xdscp.errors import USAGE, UserError
from xdscp.server.ports import split_address
from xdscp.translate import Options
from xdscp.translate.names import LOCAL_CLUSTER

EXIT_CODES = """\
exit codes:
  0  success
  1  invalid input, or a check found a difference (validate, verify, demo)
  2  usage or environment error: a flag, a missing path, a port taken, an admin URL that
     does not answer"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default, unless its help says it already or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, as every other mistake is reported, with where to read more."""
        self.exit(USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _address(text: str) -> str:
    try:
        split_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _admin_url(text: str) -> str:
    """An admin URL; `127.0.0.1:19000` means `http://127.0.0.1:19000`, as curl reads it."""
    url = text if "://" in text else f"http://{text}"
    if not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// URL, not {text!r}")
    return url.rstrip("/")


def _serve(args: argparse.Namespace) -> int:
    if bool(args.paths) == args.kubernetes:
        raise UserError("give YAML files or directories, or --kubernetes (not both)")
    try:
        fields = [*app.BOUNDS, app.PACE[1]]
        limits = app.Limits(**{field: getattr(args, field) for field in fields})
    except ValueError as err:
        raise UserError(str(err)) from err
    config = app.ServeConfig(
        paths=tuple(args.paths),
        xds_address=args.xds_address,
        admin_host=args.admin_host,
        admin_port=args.admin_port,
        listener_address=args.listener_address,
        local_cluster=args.local_cluster,
        max_message_bytes=args.max_message_bytes,
        max_concurrent_streams=args.max_concurrent_streams,
        limits=limits,
        ready_file=args.ready_file,
        tls=_tls(args),
        kubernetes=_kubernetes(args) if args.kubernetes else None,
        controller_name=args.controller_name,
        deployer=_deployer(args) if args.kubernetes and args.deployer else None,
    )
    asyncio.run(app.serve(config))
    return 0


def _tls(args: argparse.Namespace) -> app.TlsConfig | None:
    """All of the TLS flags that make sense together, or none: never plaintext by accident."""
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise UserError("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS first)")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise UserError("--tls-cert and --tls-key go together: give both, or neither")
    for flag, path in (
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
        ("--tls-client-ca", args.tls_client_ca),
    ):
        if path is not None and not path.is_file():
            raise UserError(f"{flag} {path}: no such file")
    # Read as gRPC will, so a bad file is named here instead of failing the bind.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (ssl.SSLError, ValueError) as err:
        raise UserError(
            f"--tls-cert {args.tls_cert} and --tls-key {args.tls_key}: not a PEM certificate "
            f"and its private key ({err})"
        ) from None
    if args.tls_client_ca is not None:
        try:
            context.load_verify_locations(args.tls_client_ca)
        except (ssl.SSLError, ValueError) as err:
            raise UserError(
                f"--tls-client-ca {args.tls_client_ca}: not PEM certificates ({err})"
            ) from None
    return app.TlsConfig(args.tls_cert, args.tls_key, args.tls_client_ca)


def _deployer(args: argparse.Namespace) -> app.DeployerConfig:
    return app.DeployerConfig(image=args.proxy_image, xds_address=args.proxy_xds_address)


def _kubernetes(args: argparse.Namespace) -> app.KubernetesConfig:
    return app.KubernetesConfig(
        kubeconfig=args.kubeconfig,
        namespaces=tuple(args.namespace or ()),
        lease_namespace=args.lease_namespace,
        lease_name=args.lease_name,
        identity=args.pod_name,
        lease_duration=args.lease_duration,
    )


def _validate(args: argparse.Namespace) -> int:
    found = app.findings(tuple(args.paths))
    for problem in (*found.errors, *found.warnings):
        print(problem)
    errors, warnings = len(found.errors), len(found.warnings)
    print(f"{_count(errors, 'error')}, {_count(warnings, 'warning')}" if found else "all valid")
    return 1 if errors or (warnings and args.strict) else 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _render(args: argparse.Namespace) -> int:
    options = Options(listener_address=args.listener_address, local_cluster=args.local_cluster)
    sys.stdout.write(
        app.render_files(tuple(args.paths), args.output, args.explain, options, args.show_secrets)
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    checks = app.verify(args.admin, tuple(args.paths))
    for check in checks:
        print(check)
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    errors = app.findings(tuple(args.paths)).errors if failed else ()
    if errors:
        # The likely cause: xdscp serves the last valid version of these objects, while the
        # expected side above has none of them.
        print("the files have errors; xdscp keeps serving the last valid version of these:")
        for problem in errors:
            print(f"  {problem}")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    sys.stdout.write(app.status_table(args.admin))
    return 0


def _demo(args: argparse.Namespace) -> int:
    # Envoy and httpbin (the demo extra) are needed only now, when the demo runs.
    ports = demo.Ports(args.xds_port, args.admin_port, args.envoy_admin_port)
    return demo.run(args.root, args.once, ports)


def _certs(args: argparse.Namespace) -> int:
    from xdscp import devcerts

    clients = args.client or ["gateway-1"]
    names = ["ca.crt", "ca.key", "server.crt", "server.key"]
    names += [f"{c}.{suffix}" for c in clients for suffix in ("crt", "key")]
    taken = [n for n in names if (args.directory / n).exists()]
    if taken:
        raise UserError(f"{args.directory} already holds {', '.join(taken)}; not overwriting")
    made = devcerts.write_dev_certs(args.directory, clients, args.days)
    print(f"wrote {', '.join(names)} in {args.directory}")
    print(
        f"TLS:  xdscp serve PATH --tls-cert {made.server_cert} --tls-key {made.server_key}\n"
        f"mTLS: add --tls-client-ca {made.ca_cert}\n"
        f"Envoy (envoy/bootstrap-tls.yaml, bootstrap-mtls.yaml) reads ca.crt and, for mTLS,\n"
        f"<node>.crt and .key from /etc/xdscp/tls/; server name {devcerts.SERVER_NAME}"
    )
    return 0


def _add_paths(parser: argparse.ArgumentParser, nargs: str) -> None:
    parser.add_argument(
        "paths", nargs=nargs, type=Path, metavar="PATH", help="YAML files or directories"
    )


def _add_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controller-name",
        default=app.CONTROLLER,
        help="serve the Gateways whose GatewayClass names this controller (default %(default)s)",
    )
    _add_paths(parser, "*")
    _add_kubernetes(parser)
    parser.add_argument(
        "--xds-address", type=_address, default="0.0.0.0:18000", help="gRPC ADS HOST:PORT"
    )
    parser.add_argument("--admin-host", default="127.0.0.1", help="admin HTTP host")
    parser.add_argument("--admin-port", type=int, default=9901, help="admin HTTP port (0: any)")
    parser.add_argument("--listener-address", default="0.0.0.0", help="Gateway listeners bind")
    _add_local_cluster(parser)
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=app.DEFAULT_MAX_MESSAGE_BYTES,
        help=f"largest xDS message received or sent, in bytes "
        f"(default: {app.DEFAULT_MAX_MESSAGE_BYTES >> 20} MiB)",
    )
    parser.add_argument("--max-concurrent-streams", type=int, default=0, help="0: no limit")
    parser.add_argument("--ready-file", type=Path, help="write bound ports here as JSON")
    tls = parser.add_argument_group("xDS over TLS (default: plaintext)")
    tls.add_argument("--tls-cert", type=Path, help="serve xDS over TLS with this certificate")
    tls.add_argument("--tls-key", type=Path, help="the certificate's private key")
    tls.add_argument(
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
    flag, field = app.PACE
    bounds.add_argument(
        flag,
        dest=field,
        metavar="N",
        type=int,
        default=getattr(defaults, field),
        help="resource names a stream's requests may carry per second, after a burst of "
        "--max-names-per-stream; more are read more slowly, not refused (default %(default)s)",
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
        "--namespace", action="append", help="watch only this one (repeatable; default: all)"
    )
    group.add_argument("--lease-namespace", help="default: $POD_NAMESPACE, else the pod's own")
    group.add_argument("--lease-name", default="xdscp", help="the Lease replicas elect on")
    group.add_argument("--pod-name", help="this replica's identity; default: hostname_random")
    group.add_argument("--lease-duration", type=int, default=15, help="seconds")
    group.add_argument(
        "--no-deployer",
        dest="deployer",
        action="store_false",
        help="do not deploy an Envoy per Gateway (RBAC without Deployments, Services, ...)",
    )
    group.add_argument(
        "--proxy-image", default=app.DEFAULT_IMAGE, help="Envoy image of deployed proxies"
    )
    group.add_argument(
        "--proxy-xds-address",
        default=app.DEFAULT_XDS_ADDRESS,
        help="HOST:PORT the deployed proxies reach xdscp's xDS at",
    )


def _add_validate(parser: argparse.ArgumentParser) -> None:
    _add_paths(parser, "+")
    parser.add_argument("--strict", action="store_true", help="exit 1 on warnings too")


def _add_render(parser: argparse.ArgumentParser) -> None:
    _add_paths(parser, "+")
    parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml", help="format")
    parser.add_argument("--explain", action="store_true", help="add policy status and provenance")
    parser.add_argument("--listener-address", default="0.0.0.0", help="Gateway listeners bind")
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="print the private keys of SDS secrets (redacted by default, as Envoy shows them)",
    )
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
    _add_paths(parser, "+")
    parser.add_argument(
        "--admin",
        type=_admin_url,
        default="http://127.0.0.1:19000",
        help="Envoy's admin URL (envoy/bootstrap.yaml's admin port), not xdscp's",
    )


def _add_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin",
        type=_admin_url,
        default="http://127.0.0.1:9901",
        help="xdscp's admin URL (serve --admin-host/--admin-port), not Envoy's",
    )


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="exit after the proof")
    parser.add_argument(
        "--root", type=Path, default=Path("."), help="a checkout: holds policies/ and envoy/"
    )
    ports = demo.Ports()
    parser.add_argument("--xds-port", type=int, default=ports.xds, help="xdscp's xDS port")
    parser.add_argument(
        "--admin-port", type=int, default=ports.admin, help="xdscp's admin port (xdscp status)"
    )
    parser.add_argument(
        "--envoy-admin-port",
        type=int,
        default=ports.envoy_admin,
        help="Envoy's admin port (xdscp verify)",
    )


def _add_certs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="where to write the PEM files")
    parser.add_argument(
        "--client",
        action="append",
        help="a client certificate for this node id or cluster (repeatable; default: gateway-1)",
    )
    parser.add_argument("--days", type=int, default=365, help="how long they are valid")


Verb = tuple[
    str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]
]
VERBS: tuple[Verb, ...] = (
    ("serve", "serve xDS to Envoys from YAML files or Kubernetes", _add_serve, _serve),
    (
        "validate",
        "check files: every error and warning; exit 1 on an error",
        _add_validate,
        _validate,
    ),
    ("render", "print the Envoy resources files translate to", _add_render, _render),
    ("verify", "check a live Envoy's clusters against files", _add_verify, _verify),
    ("status", "which Envoy has ACKed which version, per type", _add_status, _status),
    ("certs", "make a development CA and xDS certificates", _add_certs, _certs),
    ("demo", "run the guide with real httpbin, xdscp and Envoy", _add_demo, _demo),
)


def parser() -> argparse.ArgumentParser:
    common: dict[str, Any] = {"formatter_class": _Formatter, "epilog": EXIT_CODES}
    top = _Parser(prog="xdscp", description="A control plane for Envoy.", **common)
    top.add_argument("--version", action="version", version=f"%(prog)s {version('xdscp')}")
    top.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    top.add_argument("--log-format", choices=("text", "json"), default="text", help="log lines")
    verbs = top.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for name, summary, add_arguments, run in VERBS:
        sub = verbs.add_parser(name, help=summary, description=summary, **common)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(args.verbose, args.log_format)
    try:
        result: int = args.run(args)
    except UserError as err:
        print(f"xdscp {args.verb}: {err}", file=sys.stderr)
        return err.exit_code
    return result


if __name__ == "__main__":
    sys.exit(main())
