"""The hub with its case keys in an HSM (PKCS#11, SoftHSM2 here), end to end on the real broker:
the worker seals each new case key under the token's key-encryption key, replay opens them
through the token, and `hub erase` destroys the token object, after which nothing decrypts
and the chain still verifies. No key of the case ever reaches the data directory."""

from __future__ import annotations

import asyncio
import json
import uuid

import pkcs11
import pytest
from eventually import eventually
from flow_helpers import events_for, received_for
from pkcs11 import Attribute, ObjectClass
from pydantic import SecretStr
from softhsm import SoftHsm, process_token
from typer.testing import CliRunner, Result
from worker_thread import AgencyFactory

from agents.router import Router
from agents.worker import run_worker
from hub.audit.keys import default_key_store
from hub.cli.app import app
from hub.contracts.events import ConsentGiven, ReferralOpened, SupportRequested
from hub.runtime.settings import HubSettings, KeyStoreKind

TIMEOUT_S = 60.0
runner = CliRunner()


@pytest.fixture(scope="module")
def hsm_settings(
    hub_settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[HubSettings, SoftHsm]:
    token = process_token(tmp_path_factory)
    settings = hub_settings.model_copy(
        update={
            "key_store": KeyStoreKind.PKCS11,
            "pkcs11_module": token.module,
            "pkcs11_token_label": token.label,
            "pkcs11_pin": SecretStr(token.pin),
            "pkcs11_kek_label": token.kek_label,
        }
    )
    return settings, token


def token_labels(token: SoftHsm) -> set[str]:
    """The labels of the data objects on the token, read through a session of its own."""
    session = pkcs11.lib(str(token.module)).get_token(token_label=token.label).open()
    try:
        return {
            str(o[Attribute.LABEL])
            for o in session.get_objects({Attribute.CLASS: ObjectClass.DATA})
        }
    finally:
        session.close()


async def invoke(settings: HubSettings, *args: str) -> Result:
    return await asyncio.to_thread(runner.invoke, app, list(args), obj=settings)


async def test_a_case_keyed_in_the_hsm_replays_and_is_erased_by_destroying_the_object(
    hsm_settings: tuple[HubSettings, SoftHsm], agency: AgencyFactory
) -> None:
    settings, token = hsm_settings
    stop, routers = asyncio.Event(), list[Router]()
    worker = asyncio.create_task(run_worker(settings, stop, on_ready=routers.append))
    await eventually(
        lambda: routers and routers[0].ready.is_set(), timeout_s=TIMEOUT_S, what="worker ready"
    )
    case_id = uuid.uuid4()
    story = events_for(case_id)
    try:
        police = await agency("police-93")
        association = await agency("association-93")
        await association.publish(story[ConsentGiven])
        await police.publish(story[ReferralOpened])
        await police.publish(story[SupportRequested])
        assert len(await received_for(association, case_id, 1, timeout_s=TIMEOUT_S)) >= 1

        replayed = await invoke(settings, "replay", str(case_id), "--json")
        assert replayed.exit_code == 0, replayed.output
        entries = json.loads(replayed.stdout)["entries"]
        clear = [e for e in entries if e["payload_state"] == "CLEAR"]
        assert clear, "the worker wrote personal data, sealed by a key the HSM holds"
        assert any("identity" in e["payload"] for e in clear)
        key_ids = {label for label in token_labels(token) if label.startswith(f"{case_id}.")}
        assert len(key_ids) == 1  # one sealed key object for the case
        on_disk = default_key_store(settings.data_dir)
        assert all(on_disk.get(key_id) is None for key_id in key_ids)  # never in the data dir

        # Erasure is the worker's (hub erase: a request, a DPO's approval; docs/PRIVACY.md).
        asked = await invoke(
            settings,
            *("erase", "request", str(case_id), "--by", "operatrice.demo", "--reason", "r"),
            "--yes",
        )
        assert asked.exit_code == 0, asked.output
        pending = json.loads((await invoke(settings, "erase", "pending", "--json")).stdout)
        [request_id] = [p["request_id"] for p in pending if p["case_id"] == str(case_id)]
        erased = await invoke(settings, "erase", "approve", request_id, "--by", "dpo.demo", "--yes")
        assert erased.exit_code == 0, erased.output
        assert "effacé" in erased.stdout
    finally:
        stop.set()
        await worker
    assert not key_ids & token_labels(token)  # C_DestroyObject: the sealed key is gone
    assert str(case_id) in token_labels(token)  # the tombstone

    after = json.loads((await invoke(settings, "replay", str(case_id), "--json")).stdout)
    assert {e["payload_state"] for e in after["entries"]} <= {"ERASED", "NONE"}
    assert len([e for e in after["entries"] if e["payload_state"] == "ERASED"]) == len(clear)
    assert "Amina" not in json.dumps(after)
    assert (await invoke(settings, "audit", "verify", str(case_id))).exit_code == 0
