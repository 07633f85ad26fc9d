"""Runner types: this project's own and StackStorm's, with the runner parameters StackStorm defines.

A StackStorm action's parameters are its runner's parameters plus its own; an action may change
only the ``default``, ``description``, ``enum``, ``immutable`` and ``required`` of a runner
parameter. Runners StackStorm has and this executor does not run (``remote-shell-cmd``,
``winrm-*``, …) are known: their actions register as written and fail when run, naming the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

#: This project's own runner types (``runner_type`` in its own action files).
ATTUNE_RUNNER_TYPES: Final = ("builtin", "shell", "python", "http")

#: What an action's ``entry_point`` is for a runner: nothing, or a file under ``actions/``.
EntryPoint = Literal["none", "file"]

Params = Mapping[str, Mapping[str, Any]]

_TIMEOUT_60: Final = {
    "type": "integer",
    "default": 60,
    "description": "Action timeout in seconds. Action will get killed if it doesn't finish in timeout seconds.",
}
_COMMAND: Final = {"type": "string", "description": "The command to run."}
_LOCAL_COMMON: Final[Params] = {
    "cwd": {"type": "string", "description": "Working directory where the command will be executed in"},
    "env": {"type": "object", "description": "Environment variables which will be available to the command"},
    "kwarg_op": {
        "type": "string",
        "default": "--",
        "description": 'Operator to use in front of keyword args i.e. "--" or "-".',
    },
    "sudo": {"type": "boolean", "default": False, "description": "The command will be executed with sudo."},
    "sudo_password": {
        "type": "string",
        "default": None,
        "secret": True,
        "required": False,
        "description": "Sudo password. To be used when paswordless sudo is not allowed.",
    },
    "timeout": _TIMEOUT_60,
}
_SCRIPT_EXTRAS: Final[Params] = {
    "debug": {"type": "boolean", "default": False, "description": "Enable runner debug mode."},
    "content_version": {"type": "string", "description": "Git revision of the pack content to use."},
}
_REMOTE: Final[Params] = {
    "hosts": {"type": "string", "required": True, "description": "A comma delimited list of hosts."},
    "username": {"type": "string", "description": "Username used to log in."},
    "password": {"type": "string", "secret": True, "description": "Password used to log in."},
    "private_key": {"type": "string", "secret": True, "description": "Private key material or path."},
    "passphrase": {"type": "string", "secret": True, "description": "Passphrase for the private key."},
    "port": {"type": "integer", "description": "SSH port."},
    "parallel": {"type": "boolean", "default": True, "description": "Run on the hosts in parallel."},
    "bastion_host": {"type": "string", "description": "The host SSH connections are proxied through."},
    "dir": {"type": "string", "description": "Where the script is copied to on the remote host."},
    **_LOCAL_COMMON,
}
_WINRM: Final[Params] = {
    "host": {"type": "string", "required": True, "description": "The Windows host."},
    "username": {"type": "string", "required": True, "description": "Username used to log in."},
    "password": {
        "type": "string",
        "required": True,
        "secret": True,
        "description": "Password used to log in.",
    },
    "port": {"type": "integer", "default": 5986, "description": "WinRM port."},
    "scheme": {"type": "string", "default": "https", "description": "http or https."},
    "transport": {"type": "string", "default": "ntlm", "description": "WinRM transport."},
    "verify_ssl_cert": {"type": "boolean", "default": True, "description": "Verify the server certificate."},
    "cwd": {"type": "string", "description": "Working directory."},
    "env": {"type": "object", "description": "Environment variables."},
    "kwarg_op": {"type": "string", "default": "-", "description": "Operator in front of keyword args."},
    "timeout": _TIMEOUT_60,
}


#: What StackStorm's ``core.ask`` asks when its action gives no schema.
INQUIRY_DEFAULT_SCHEMA: Final[dict[str, Any]] = {
    "title": "response_data",
    "type": "object",
    "properties": {
        "continue": {
            "type": "boolean",
            "description": "Would you like to continue the workflow?",
            "required": True,
        }
    },
}


@dataclass(frozen=True)
class RunnerSpec:
    """A StackStorm runner type: its parameters and what this executor does with it."""

    name: str
    parameters: Params = field(default_factory=dict)
    entry_point: EntryPoint = "none"
    #: whether this executor runs it; otherwise its actions fail with :meth:`unavailable`
    available: bool = True
    #: why it does not run here, for the error of an execution
    missing: str = "StackStorm's remote and Windows runners are not part of this project"

    def unavailable(self) -> str:
        """The error of an execution of an action of this runner, when it does not run here."""
        return f"runner {self.name} is not available here: {self.missing}"


def _spec(name: str, params: Params | None = None, **kwargs: Any) -> RunnerSpec:
    return RunnerSpec(name, params or {}, **kwargs)


STACKSTORM_RUNNERS: Final[dict[str, RunnerSpec]] = {
    spec.name: spec
    for spec in (
        _spec(
            "local-shell-cmd",
            {"cmd": _COMMAND, **_LOCAL_COMMON},
        ),
        _spec("local-shell-script", {**_SCRIPT_EXTRAS, **_LOCAL_COMMON}, entry_point="file"),
        _spec(
            "python-script",
            {
                **_SCRIPT_EXTRAS,
                "env": {"type": "object", "description": "Environment variables available to the script."},
                "timeout": {**_TIMEOUT_60, "default": 600},
                "log_level": {
                    "type": "string",
                    "default": "DEBUG",
                    "enum": ["AUDIT", "CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
                    "description": "Default log level for Python runner actions.",
                },
            },
            entry_point="file",
        ),
        _spec(
            "http-request",
            {
                "url": {"type": "string", "required": True, "description": "URL to the HTTP endpoint."},
                "headers": {"type": "object", "description": "HTTP headers for the request."},
                "cookies": {"type": "object", "description": "Optional cookies to send with the request."},
                "allow_redirects": {
                    "type": "boolean",
                    "default": False,
                    "description": "Follow redirects (a 3xx response fails otherwise).",
                },
                "http_proxy": {"type": "string", "description": "URL of an HTTP proxy."},
                "https_proxy": {"type": "string", "description": "URL of an HTTPS proxy."},
                "username": {"type": "string", "description": "Username for basic authentication."},
                "password": {
                    "type": "string",
                    "secret": True,
                    "description": "Password for basic authentication.",
                },
                "verify_ssl_cert": {
                    "type": "boolean",
                    "default": True,
                    "description": "Verify the server's certificate.",
                },
                "url_hosts_blacklist": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Hosts the URL must not name.",
                },
                "url_hosts_whitelist": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The only hosts the URL may name.",
                },
            },
        ),
        _spec("noop"),
        _spec(
            "orquesta",
            {"notify": {"type": "array", "default": [], "items": {"type": "string"}}},
            entry_point="file",
        ),
        _spec(
            "action-chain",
            {"skip_notify": {"type": "array", "default": []}, "display_published": {"type": "boolean"}},
            entry_point="file",
            available=False,
            missing="ActionChain workflows are not supported; rewrite the chain as an Orquesta workflow",
        ),
        _spec(
            "inquirer",
            {
                "schema": {
                    "type": "object",
                    "default": INQUIRY_DEFAULT_SCHEMA,
                    "description": "JSON Schema of the response",
                },
                "roles": {
                    "type": "array",
                    "default": [],
                    "description": "Roles allowed to respond (any when empty)",
                },
                "users": {
                    "type": "array",
                    "default": [],
                    "description": "Users allowed to respond (any when empty)",
                },
                "route": {
                    "type": "string",
                    "default": "",
                    "description": "Given to the core.st2.generic.inquiry trigger, for notification rules",
                },
                "ttl": {
                    "type": "integer",
                    "default": 1440,
                    "description": "Minutes to respond (0 or less: never times out)",
                },
            },
        ),
        _spec(
            "announcement",
            {"experimental": {"type": "boolean"}, "route": {"type": "string"}},
            available=False,
            missing="announcements are not supported",
        ),
        _spec("remote-shell-cmd", {"cmd": _COMMAND, **_REMOTE}, available=False),
        _spec("remote-shell-script", dict(_REMOTE), entry_point="file", available=False),
        _spec("winrm-cmd", {"cmd": {**_COMMAND, "required": True}, **_WINRM}, available=False),
        _spec("winrm-ps-cmd", {"cmd": {**_COMMAND, "required": True}, **_WINRM}, available=False),
        _spec("winrm-ps-script", dict(_WINRM), entry_point="file", available=False),
        _spec("windows-cmd", {"cmd": _COMMAND, **_WINRM}, available=False),
        _spec("windows-script", dict(_WINRM), entry_point="file", available=False),
    )
}

#: Older names StackStorm still accepts for some runners.
RUNNER_ALIASES: Final = {
    "run-local": "local-shell-cmd",
    "run-local-script": "local-shell-script",
    "run-remote": "remote-shell-cmd",
    "run-remote-script": "remote-shell-script",
    "run-python": "python-script",
    "http-runner": "http-request",
    "orchestra": "orquesta",
}

#: Runner parameters an action may change (StackStorm's rule); anything else is an error.
OVERRIDABLE: Final = frozenset({"default", "description", "enum", "immutable", "required"})


def stackstorm_runner(name: str) -> RunnerSpec | None:
    """The StackStorm runner of this name or alias, or ``None``."""
    return STACKSTORM_RUNNERS.get(RUNNER_ALIASES.get(name, name))


def runner_parameter_names(runner_type: str) -> frozenset[str]:
    """The runner parameters of a runner type (none for this project's own runners)."""
    spec = stackstorm_runner(runner_type)
    return frozenset(spec.parameters) if spec is not None else frozenset()


def merge_parameters(
    runner: RunnerSpec, action: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """The parameters of an action of ``runner``: the runner's, overridden by the action's, then the
    action's own. Returns them and the problems, as ``(parameter, message)``."""
    merged: dict[str, dict[str, Any]] = {name: dict(spec) for name, spec in runner.parameters.items()}
    problems: list[tuple[str, str]] = []
    for name, spec in action.items():
        base = merged.get(name)
        if base is None:
            merged[name] = dict(spec)
            continue
        for attribute, value in spec.items():
            if attribute in OVERRIDABLE:
                base[attribute] = value
            elif base.get(attribute, value) != value or attribute not in base:
                problems.append(
                    (name, f'the attribute "{attribute}" of runner parameter "{name}" cannot be overridden')
                )
    return merged, problems
