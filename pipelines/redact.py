"""Redact personal data and secrets from support-ticket text before it is sent to an LLM.

Each hit is replaced by a placeholder naming its kind, and `Redaction.counts` says how many of each were replaced.

Redacted:
- email: addresses such as jane.doe+billing@example.co.uk;
- phone: numbers that Google's `phonenumbers` accepts as valid for `default_region` ("(415) 555-2671") or, with a
  leading +, for any country ("+44 20 7946 0958");
- card: 13-19 digits, optionally grouped by spaces or dashes, that pass the Luhn check;
- iban: IBANs, compact or grouped by spaces, whose country format and check digits are valid (upper case only);
- ip: IPv4 and IPv6 addresses that the stdlib `ipaddress` accepts (a four-part version such as 1.2.3.4 is a valid
  IPv4 address and is redacted; IPv6 needs at least one digit);
- secret: PEM private key blocks; AWS access key ids (AKIA/ASIA); GitHub (ghp_, gho_, ghu_, ghs_, ghr_,
  github_pat_), Slack (xoxb-, xoxa-, xoxp-, xoxr-, xoxs-), Stripe (sk_/pk_/rk_ live or test, whsec_) and Google
  (AIza) keys; JWTs; the credential after `Authorization:` or `Bearer`; the password in a URL (scheme://user:pw@);
  the value of `key: value`, `key=value` or `"key": "value"` pairs whose key names a password, passphrase, secret,
  token, API key, access key or private key (the key itself is kept).

Not redacted: names, postal addresses, dates, account or customer ids, order numbers, Luhn-invalid digit runs,
national ids (SSN and the like), MAC addresses, URLs and host names, secrets in free prose ("my password is ...") and
high-entropy strings of an unknown format.

Kinds are applied in this order, each on the text left by the previous ones, so one hit is never replaced twice or in
part: secret, email, ip, iban, card, phone. Replacing a hit can make a neighbour match (a card followed by a phone
number is only a 16-digit run once the phone is gone), so the pass is repeated until nothing changes: redact() is
idempotent. Text without any hit comes back unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import phonenumbers
from pydantic import BaseModel
from stdnum import iban as std_iban
from stdnum import luhn

KINDS = ("email", "phone", "card", "iban", "ip", "secret")
_MAX_PASSES = 4


class Redaction(BaseModel):
    """The redacted text and, per kind with at least one hit, how many hits were replaced."""

    text: str
    counts: dict[str, int]


def _placeholder(kind: str) -> str:
    return f"[{kind.upper()}]"


_NOT_PLACEHOLDER = r"(?!\[[A-Z]+\])"

# --- secrets: the whole match is replaced, or only the group "val" where the pattern has one ---
_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
    r"|(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|(?<![A-Za-z0-9])(?:(?:sk|pk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9]{10,}"
    r"|(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"
    r"|(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]+)?"
)
_AUTHORIZATION = re.compile(
    r"(?i)(?<![\w-])(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*"
    r"(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?+" + _NOT_PLACEHOLDER + r"(?P<val>[^\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)(?<![\w-])bearer[ \t]+" + _NOT_PLACEHOLDER + r"(?P<val>[A-Za-z0-9._~+/-]{16,}=*)")
_URL_PASSWORD = re.compile(r"(?<=://)[^\s/:@\[\]]+:" + _NOT_PLACEHOLDER + r"(?P<val>[^\s/@\[\]]+)(?=@)")
_SECRET_KEY = (
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key)"
)
_KEY_VALUE = re.compile(  # optional key prefix (client_, DB_, x-), key, separator, then a quoted or a bare value
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_.-])*" + _SECRET_KEY + r"[\"']?[ \t]*(?:=>|[:=])[ \t]*(?P<q>[\"'])?"
    r"(?!\[[A-Z]+\])(?P<val>(?(q)(?:(?!(?P=q))[^\n])+|[^\s\"'`,;&)\]}>]+))(?(q)(?P=q))"
)
_SECRETS = (_PEM, _TOKEN, _AUTHORIZATION, _BEARER, _URL_PASSWORD, _KEY_VALUE)

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[0-9A-Za-z_-]+)?(?![\w:]|\.\w)"
)
_IPV4 = re.compile(r"(?<![\w.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_SEVEN_DIGITS = re.compile(r"\d(?:\D*\d){6}")


def _sub(pattern: re.Pattern[str], text: str, kind: str, counts: dict[str, int], keep: Callable[[str], bool]) -> str:
    """Replace each match that `keep` accepts (group "val" if the pattern has one, else the whole match)."""
    has_val = "val" in pattern.groupindex
    placeholder = _placeholder(kind)

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if not keep(match.group("val") if has_val else whole):
            return whole
        counts[kind] = counts.get(kind, 0) + 1
        if not has_val:
            return placeholder
        start, end = match.start("val") - match.start(), match.end("val") - match.start()
        return whole[:start] + placeholder + whole[end:]

    return pattern.sub(replace, text)


def _always(_: str) -> bool:
    return True


def _is_ipv4(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def _is_ipv6(candidate: str) -> bool:
    if not any(c.isdigit() for c in candidate):  # "dead::beef", "Face::Bead", "::" read as words or punctuation
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _is_card(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _ibans(text: str, counts: dict[str, int]) -> str:
    """Replace valid IBANs; a candidate may run on into following upper-case words, so its prefixes are tried."""
    out: list[str] = []
    pos = 0
    for match in _IBAN.finditer(text):
        candidate = match.group(0)
        for end in range(len(candidate), 14, -1):
            if end < len(candidate) and candidate[end] != " ":  # a prefix must end at a group boundary
                continue
            if candidate[end - 1] != " " and std_iban.is_valid(candidate[:end]):
                out.append(text[pos : match.start()])
                out.append(_placeholder("iban"))
                pos = match.start() + end
                counts["iban"] = counts.get("iban", 0) + 1
                break
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _phones(text: str, region: str, counts: dict[str, int]) -> str:
    """Replace numbers `phonenumbers` finds valid; skipped below seven digits, where no valid number fits."""
    if not _SEVEN_DIGITS.search(text):
        return text
    out: list[str] = []
    pos = 0
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        out.append(text[pos : match.start])
        out.append(_placeholder("phone"))
        pos = match.end
        counts["phone"] = counts.get("phone", 0) + 1
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _redact_once(text: str, region: str, counts: dict[str, int]) -> str:
    for pattern in _SECRETS:
        text = _sub(pattern, text, "secret", counts, _always)
    if "@" in text:
        text = _sub(_EMAIL, text, "email", counts, _always)
    if ":" in text:
        text = _sub(_IPV6, text, "ip", counts, _is_ipv6)
    if "." in text:
        text = _sub(_IPV4, text, "ip", counts, _is_ipv4)
    text = _ibans(text, counts)
    text = _sub(_CARD, text, "card", counts, _is_card)
    return _phones(text, region, counts)


def redact(text: str, default_region: str = "US") -> Redaction:
    """Replace emails, phone numbers, cards, IBANs, IP addresses and secrets in `text` by [KIND] placeholders.

    `default_region` (ISO 3166 alpha-2) is the country whose national phone format is recognised without a +.
    """
    counts: dict[str, int] = {}
    for _ in range(_MAX_PASSES):
        before = sum(counts.values())
        text = _redact_once(text, default_region, counts)
        if sum(counts.values()) == before:
            break
    return Redaction(text=text, counts={kind: counts[kind] for kind in KINDS if counts.get(kind)})
