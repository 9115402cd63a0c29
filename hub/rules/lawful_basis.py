"""The lawful bases of one disclosure, recorded in its audit entry (docs/LAW.md §7).

A disclosure rests on the person's consent (GDPR 6(1)(a), explicit for health data: 9(2)(a))
for the categories consent covers, and on the legal exception's own bases
(``deploy/config/consent.yaml``: a legal obligation 6(1)(c), a vital interest 6(1)(d), a
public task 6(1)(e)) for the categories shared without consent — with 9(2)(g) for health
data shared so. Offence data (the exploitation narrative) is processed under the control of
official authority (GDPR art. 10): the hub is run by the national coordination. A police or
prosecutor recipient processes what it receives under the Law Enforcement Directive.
"""

from __future__ import annotations

from hub.contracts.enums import AgencyRole, DataCategory, LawfulBasis
from hub.rules.consent import ConsentPolicy, Share

_ORDER = list(LawfulBasis)


def lawful_bases(
    share: Share,
    role: AgencyRole,
    categories: frozenset[DataCategory],
    policy: ConsentPolicy,
) -> tuple[LawfulBasis, ...]:
    """The bases the delivery of ``categories`` to ``role`` under ``share`` rests on (none
    when no personal data leaves)."""
    if not categories:
        return ()
    bases: set[LawfulBasis] = set()
    consented = categories & share.consented
    if consented:
        bases.add(LawfulBasis.GDPR_6_1_A_CONSENT)
        if DataCategory.HEALTH in consented:
            bases.add(LawfulBasis.GDPR_9_2_A_EXPLICIT_CONSENT)
    without_consent = categories - consented
    if without_consent and share.exception is not None:
        bases |= set(share.exception.lawful_basis)
        if DataCategory.HEALTH in without_consent:
            bases.add(LawfulBasis.GDPR_9_2_G_SUBSTANTIAL_PUBLIC_INTEREST)
    if DataCategory.EXPLOITATION_DETAILS in categories:
        bases.add(LawfulBasis.GDPR_10_OFFENCE_DATA)
    if role in policy.law_enforcement_roles:
        bases.add(LawfulBasis.LED_2016_680)
    return tuple(sorted(bases, key=_ORDER.index))
