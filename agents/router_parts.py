"""What a routing worker is built from: its policies and its collaborators.

``Policies`` are the configuration files every decision reads; ``RouterParts`` groups them with
the codec, the followed directory, the key store and the signature verifier and signer, so a
router takes its settings and one value (``agents.worker.build_router`` assembles it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agents.directory_follower import DirectoryFollower
from agents.io.broker_watch import BrokerWatch
from hub.audit.keys import KeyStore
from hub.contracts.codec import Codec
from hub.contracts.registry import SchemaRegistry
from hub.flow.decisions import Context
from hub.rules.consent import ConsentPolicy
from hub.rules.deadlines.policy import POLICY_FILE, DeadlinePolicy
from hub.rules.directory import Directory
from hub.rules.holds import HoldPolicy
from hub.rules.indicators import IndicatorGrid
from hub.rules.lifecycle import Lifecycle, PathwayPolicy
from hub.rules.projection import Projector
from hub.rules.roles import OperatorRoster
from hub.rules.routing import RoutingRules
from hub.runtime.retention import RetentionSchedule
from hub.trust.signing import RecordSigner
from hub.trust.verification import RecordVerifier


@dataclass(frozen=True)
class Policies:
    """The rules and policies every decision reads, loaded from the configuration files."""

    rules: RoutingRules
    consent: ConsentPolicy
    deadlines: DeadlinePolicy
    lifecycle: Lifecycle
    pathway: PathwayPolicy
    projector: Projector
    indicators: IndicatorGrid
    operators: OperatorRoster
    holds: HoldPolicy
    retention: timedelta
    """How long after its last contact a case's personal data is kept (retention.yaml)."""

    @classmethod
    def load(cls, config_dir: Path, registry: SchemaRegistry) -> Policies:
        """Every policy of ``config_dir``; projections from ``registry``'s schemas."""
        return cls(
            rules=RoutingRules.load(config_dir),
            consent=ConsentPolicy.load(config_dir),
            deadlines=DeadlinePolicy.load(config_dir / POLICY_FILE),
            lifecycle=Lifecycle.load(config_dir),
            pathway=PathwayPolicy.load(config_dir),
            projector=Projector(registry),
            indicators=IndicatorGrid.load(config_dir),
            operators=OperatorRoster.load(config_dir),
            holds=HoldPolicy.load(config_dir),
            retention=RetentionSchedule.load(config_dir).personal_data_of_cases.period,
        )

    def context(self, directory: Directory, replay_window: timedelta | None) -> Context:
        """The decision context over today's ``directory``."""
        return Context(
            directory,
            self.rules,
            self.consent,
            self.projector,
            self.deadlines,
            self.lifecycle,
            self.pathway,
            operators=self.operators,
            holds=self.holds,
            retention_period=self.retention,
            replay_window=replay_window,
        )


@dataclass(frozen=True)
class RouterParts:
    """What a router works with: decoding, the directory, policies, keys and signatures."""

    codec: Codec
    directory: DirectoryFollower
    policies: Policies
    key_store: KeyStore
    verifier: RecordVerifier | None = None
    """None: signatures are not verified (benchmarks only)."""
    signer: RecordSigner | None = None
    hub_keys: tuple[str, ...] = ()
    """The hub's public keys: they prove the dead letter a re-drive carries, and may sign an
    erasure command."""
    operator_keys: tuple[str, ...] = ()
    """The operator-action public keys: a re-drive must be signed by one, an erasure command
    by one of them or of ``hub_keys`` (none: every re-drive refused)."""
    watch: BrokerWatch | None = None
    """Says when the broker is gone and when it is back; one per router when None."""
