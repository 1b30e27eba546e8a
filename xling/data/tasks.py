"""Labels for the two zero-shot transfer tasks, derived from where a translation group came from.

- ``uidomain``: a UI string's software domain, from the gettext domain (or Django app) that
  carries it. A string that several classes share ("Cancel") gets no label.
- ``cldr_entity``: a CLDR name's entity type (language, territory, currency, unit, time zone).

Example:
    >>> software_domain("debian-gettext", "coreutils"), software_domain("django", "django.contrib.admin")
    ('shell utilities', 'web')
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from xling.data.sources import CLDR_CATEGORIES

#: Gettext domains grouped into classes, first match wins.
DOMAIN_CLASSES: tuple[tuple[str, str], ...] = (
    ("desktop GUI", r"gtk|gdk|glib|at-spi|shared-mime|xdg-user-dirs|gsettings|xkeyboard|gstreamer|avahi"),
    ("package management", r"apt|dpkg|packagekit|software-properties|appstream"),
    ("security", r"gnupg|gnutls|krb5|linux-pam|shadow|polkit"),
    ("database", r"^pg_|^psql|^plpgsql|^postgres|^libpq|^pgscripts|^initdb"),
    ("toolchain", r"binutils|^ld$|^gold$|^gas$|^bfd$|^opcodes$|^gprof$|elfutils|^make$|gettext-tools|^git$"),
    ("shell utilities", r"coreutils|^grep$|^sed$|findutils|^tar$|^bash$|diffutils|psmisc|^xz$|wget|man-db|gettext-runtime|procps|net-tools|libidn|systemd|^libc$|adduser"),
)  # fmt: skip
_COMPILED = tuple((label, re.compile(pattern, re.IGNORECASE)) for label, pattern in DOMAIN_CLASSES)

TASKS = ("uidomain", "cldr_entity")


def software_domain(source: str, domain: str) -> str | None:
    """The ``uidomain`` class of a catalog, or ``None`` for catalogs outside the task (ISO names)."""
    if source == "django":
        return "web"
    if source != "debian-gettext":
        return None
    for label, pattern in _COMPILED:
        if pattern.search(domain):
            return label
    return None


def label_group(task: str, origins: Iterable[tuple[str, str]]) -> str | None:
    """The label of a translation group from its ``(source, domain)`` origins, or ``None``.

    A group is labelled only when every origin that speaks to the task agrees, and, for
    ``uidomain``, when it is not also a CLDR or ISO name.
    """
    origins = set(origins)
    if task == "uidomain":
        if any(source in {"cldr", "pycountry"} for source, _ in origins):
            return None
        labels = {software_domain(source, domain) for source, domain in origins}
        labels.discard(None)
    elif task == "cldr_entity":
        labels = {domain for source, domain in origins if source == "cldr" and domain in CLDR_CATEGORIES}
    else:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return labels.pop() if len(labels) == 1 else None
