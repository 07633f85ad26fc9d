import json
import subprocess
import sys

from nats.aio.client import Client as NatsClient

from attune_shared.bus import BusSpec
from attune_shared.bus.messages import DLQ_REASON_HEADER, DeadLetter


def _attune(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attune_cli", *args], env=env, capture_output=True, text=True, check=False
    )


async def test_bus_init_and_dlq_list(
    service_env: dict[str, str], nats_client: NatsClient, nats_prefix: str
) -> None:
    result = _attune(service_env, "bus", "init", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert f"stream {nats_prefix.upper()}_WORK" in report["created"]
    assert json.loads(_attune(service_env, "bus", "init", "--json").stdout)["created"] == []

    spec = BusSpec(nats_prefix)
    js = nats_client.jetstream()
    for i, reason in enumerate(["invalid_json", "unknown_trigger", "invalid_json"]):
        letter = DeadLetter(
            reason=reason, detail=f"d{i}", subject=spec.subjects.trigger("demo.alert"), body="x"
        )
        await js.publish(
            spec.subjects.dlq(reason), letter.model_dump_json().encode(), headers={DLQ_REASON_HEADER: reason}
        )

    listed = json.loads(_attune(service_env, "dlq", "list", "--json").stdout)
    assert [e["detail"] for e in listed] == ["d2", "d1", "d0"]  # newest first
    only = json.loads(
        _attune(service_env, "dlq", "list", "--json", "--reason", "invalid_json", "-n", "1").stdout
    )
    assert [e["detail"] for e in only] == ["d2"]
    table = _attune(service_env, "dlq", "list")
    assert "unknown_trigger" in table.stdout


def test_bus_docs_writes_asyncapi(service_env: dict[str, str], tmp_path) -> None:
    out = tmp_path / "asyncapi.json"
    result = _attune(service_env, "bus", "docs", "-o", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["asyncapi"].startswith("3.")
