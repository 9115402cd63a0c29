"""Why something an operator gave was refused, in the operator's words (French).

Two sources of English reach operator screens otherwise: ``OSError.strerror``, the C
library's "No such file or directory", and pydantic's messages ("Input should be a valid
integer"). These say the same in French, keeping the machine's code (``ENOENT``,
``int_parsing``) where it helps a bug report. Logs and the agencies' HTTP API keep the
machine's English.
"""

from __future__ import annotations

import errno
from typing import Any

from pydantic import ValidationError

_OS_REASONS = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "accès refusé",
    errno.EPERM: "opération non permise",
    errno.EISDIR: "c'est un répertoire",
    errno.ENOTDIR: "un élément du chemin n'est pas un répertoire",
    errno.EEXIST: "le fichier existe déjà",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.ENAMETOOLONG: "nom de fichier trop long",
}

_FIELD_REASONS = {
    "missing": "obligatoire, absent",
    "extra_forbidden": "champ inconnu",
    "string_type": "texte attendu",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "bool_type": "true ou false attendu",
    "bool_parsing": "true ou false attendu",
    "dict_type": "dictionnaire attendu",
    "list_type": "liste attendue",
    "uuid_type": "UUID attendu",
    "uuid_parsing": "UUID attendu",
    "datetime_type": "date et heure attendues",
    "datetime_parsing": "date et heure attendues",
    "date_parsing": "date attendue",
    "url_parsing": "URL invalide",
    "url_scheme": "schéma d'URL refusé",
    "string_pattern_mismatch": "format invalide",
    "greater_than_equal": "au moins {ge}",
    "greater_than": "plus que {gt}",
    "less_than_equal": "au plus {le}",
    "less_than": "moins que {lt}",
    "string_too_short": "au moins {min_length} caractère(s)",
    "string_too_long": "au plus {max_length} caractère(s)",
    "too_short": "au moins {min_length} élément(s)",
    "too_long": "au plus {max_length} élément(s)",
    "literal_error": "valeur attendue : {expected}",
    "enum": "valeur attendue : {expected}",
}


def os_reason(exc: OSError) -> str:
    """``fichier introuvable (ENOENT)``: what went wrong with a file, in French."""
    code = exc.errno
    if code is None:
        return "erreur d'entrée-sortie"
    name = errno.errorcode.get(code, str(code))
    return f"{_OS_REASONS.get(code, 'erreur système')} ({name})"


def field_problems(exc: ValidationError) -> str:
    """Every invalid field as ``path : raison``, ``;``-separated, in French; never the input
    values, which may be secrets or personal data."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'valeur'} : {field_reason(error)}"
        for error in exc.errors()
    )


def field_reason(error: Any) -> str:
    """One pydantic error (an ``ErrorDetails``) in French: its kind, or the validator's own
    message (the hub's validators speak French), or the machine's code."""
    kind = str(error.get("type", ""))
    context = {
        key: str(value).replace("' or '", "' ou '")
        for key, value in (error.get("ctx") or {}).items()
    }
    if kind in _FIELD_REASONS:
        try:
            return _FIELD_REASONS[kind].format(**context)
        except KeyError:
            return _FIELD_REASONS[kind].split(" {")[0]
    if kind in ("value_error", "assertion_error") and "error" in context:
        return context["error"]
    return f"valeur refusée ({kind or 'inconnu'})"
