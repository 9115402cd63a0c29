"""Why a file could not be read or written, in the operator's words.

``OSError.strerror`` is the C library's English ("No such file or directory"); the lines an
operator reads say the same in French, with the errno name kept for a bug report.
"""

from __future__ import annotations

import errno

_REASONS = {
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


def os_reason(exc: OSError) -> str:
    """``fichier introuvable (ENOENT)``: what went wrong with a file, in French."""
    code = exc.errno
    if code is None:
        return "erreur d'entrée-sortie"
    name = errno.errorcode.get(code, str(code))
    return f"{_REASONS.get(code, 'erreur système')} ({name})"
