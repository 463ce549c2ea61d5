"""Redact personal data and secrets from support-ticket text before it is sent to an LLM.

Each hit is replaced by a placeholder naming its kind ([EMAIL], [PHONE], [CARD], [IBAN], [IP], [SECRET]), and
`Redaction.counts` says how many of each were replaced.

Redacted:
- email: addresses such as jane.doe+billing@example.co.uk;
- phone: numbers that Google's `phonenumbers` finds valid (Leniency.VALID), in the national format of
  `default_region` ("(415) 555-2671" for US) or international with a + ("+44 20 7946 0958"), extension included;
  written in at least 7 characters, and only in texts with at least 7 digits; not a dotted number with a one-digit
  group after its first (a version such as Chrome's "121.0.5425.195");
- card: 13-19 digits, compact or grouped by spaces or dashes as cards are printed (groups of 4 and a shorter last
  one, 4-6-5, 4-6-4, 4-4-5 or 4-3-3-3) and not part of a longer grouped number, that pass the Luhn check (any such
  id is taken for a card: about one random 13-19 digit number in ten passes);
- iban: IBANs, compact or grouped by spaces, whose country format and check digits are valid (upper case only);
- ip: IPv4 and IPv6 addresses (IPv6 with its %zone) that the stdlib `ipaddress` accepts; a :port or /prefix is kept
  (a four-part number such as "1.2.3.4" is an IPv4 address even where it is meant as a version, unless a version word
  comes right before it: "version", "build", "firmware", "release", "v" and the like; IPv6 needs a digit);
- secret: PEM private key blocks; AWS access key ids (AKIA/ASIA); GitHub (ghp_, gho_, ghu_, ghs_, ghr_,
  github_pat_), Slack (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-), Stripe (sk_/pk_/rk_ + live_/test_, whsec_) and Google
  (AIza) keys; JWTs; the credential after `Authorization:` (the scheme, e.g. Bearer, is kept) or after `Bearer`
  (16+ characters); the password in a URL (scheme://user:[SECRET]@host); the value of `key: value`, `key=value`,
  `key => value` and `"key": "value"` pairs whose key is password, passwd, pwd, passphrase, secret, token, api key,
  access key, private key or secret key, also inside a longer name (client_secret, DB_PASSWORD, x-api-key,
  access_token). The key is kept; the value is the quoted string or the next word (up to a space , ; & ) ] } >),
  unless that is a word that describes the field instead ("Password: must contain a digit", "token: expired").

Not redacted: names, postal addresses, dates and times, account, customer and order ids (unless Luhn-valid with
13-19 digits in a card's grouping), Luhn-invalid numbers, national ids (SSN and the like), MAC addresses, URLs and
host names, lower-case IBANs, national phone numbers of other countries than `default_region`, secrets in prose ("my
password is hunter2") and tokens of other formats.

Kinds are applied in this order, each on the text left by the previous ones, so a hit is never replaced twice or in
part: secret, email, ip, iban, card, phone. Replacing a hit can expose a neighbour (a card followed by a phone number
is a 16-digit run only once the phone is gone), so the pass is repeated until nothing changes (at most 4 passes), which
makes redact() idempotent. Text without any hit comes back unchanged.
"""

from __future__ import annotations

import inspect
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
    """ "email" -> "[EMAIL]"."""
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
_KEY_VALUE = re.compile(  # key (also as in client_secret, DB_PASSWORD, x-api-key), separator, quoted or bare value
    r"(?i)(?<![A-Za-z0-9])" + _SECRET_KEY + r"[\"']?[ \t]*(?:=>|[:=])[ \t]*(?P<q>[\"'])?"
    r"(?!\[[A-Z]+\])(?P<val>(?(q)(?:(?!(?P=q))[^\n])+|[^\s\"'`,;&)\]}>]+))(?(q)(?P=q))"
)
_SECRETS = (_PEM, _TOKEN, _AUTHORIZATION, _BEARER, _URL_PASSWORD, _KEY_VALUE)

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[0-9A-Za-z_-]+)?(?![\w:]|\.\w)"
)
_IPV4 = re.compile(r"(?<![\w.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])")
_VERSION_BEFORE = re.compile(  # "build 4.2.0.12", "Firmware v1.0.3.7", "version: 10.2.0.1": a version, not an IP
    r"(?i)\b(?:versions?|ver|v|builds?|firmware|fw|releases?|rel|rev|revision|patch)\.?[ \t]*[:#]?[ \t]*v?$"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")
_CARD = re.compile(  # not inside a longer grouped number such as a tracking number "9400 1000 0000 0000 0000 00"
    r"(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])(?![ -][0-9]{4}(?![0-9]))"
)
_CARD_GROUPS = ((4, 6, 5), (4, 6, 4), (4, 4, 5), (4, 3, 3, 3))  # Amex, Diners, 13-digit Visa; else groups of 4
_NOT_SECRET = frozenset((  # a `key: value` pair whose value describes the field, as in error messages
    "must", "should", "is", "was", "are", "be", "not", "too", "required", "incorrect", "invalid", "wrong", "expired",
    "missing", "empty", "none", "null", "changed", "reset", "updated", "hidden", "redacted", "removed", "revoked",
    "rotated", "optional", "needed", "unknown",
))  # fmt: skip
_VERSION_PHONE = re.compile(r"\d+(?:\.\d+)*\.\d\.\d+(?:\.\d+)*")  # dotted, a one-digit group after the first
_SEVEN_DIGITS = re.compile(r"\d(?:\D*\d){6}")
# Recent phonenumbers releases (2026 on) can skip candidates shorter than 7 characters ("500", "2.6.1", "#48213")
# before parsing them, which is most of the matcher's time on ticket text; older releases parse every candidate.
_MATCHER_OPTIONS: dict[str, int] = (
    {"min_candidate_length": 7}
    if "min_candidate_length" in inspect.signature(phonenumbers.PhoneNumberMatcher).parameters
    else {}
)


def _sub(
    pattern: re.Pattern[str],
    text: str,
    kind: str,
    counts: dict[str, int],
    keep: Callable[[str], bool],
    unless_after: re.Pattern[str] | None = None,
) -> str:
    """Replace each match that `keep` accepts (group "val" if the pattern has one, else the whole match), except where
    the text before the match ends with `unless_after`."""
    has_val = "val" in pattern.groupindex
    placeholder = _placeholder(kind)

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if not keep(match.group("val") if has_val else whole):
            return whole
        if unless_after is not None and unless_after.search(text, max(0, match.start() - 20), match.start()):
            return whole
        counts[kind] = counts.get(kind, 0) + 1
        if not has_val:
            return placeholder
        start, end = match.start("val") - match.start(), match.end("val") - match.start()
        return whole[:start] + placeholder + whole[end:]

    return pattern.sub(replace, text)


def _always(_: str) -> bool:
    """Accept every match."""
    return True


def _is_ipv4(candidate: str) -> bool:
    """Whether `candidate` is an IPv4 address (each part 0-255, no leading zeros)."""
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def _is_ipv6(candidate: str) -> bool:
    """Whether `candidate` is an IPv6 address with at least one digit."""
    if not any(c.isdigit() for c in candidate):  # "dead::beef", "Face::Bead" and "::" are words or punctuation
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _is_card(candidate: str) -> bool:
    """Whether `candidate` has 13-19 digits (spaces and dashes aside) that pass the Luhn check, compact or grouped as
    cards are printed (an order number such as 112-4567890-1234567 is not)."""
    groups = tuple(len(group) for group in re.split(r"[ -]", candidate))
    printed = all(size == 4 for size in groups[:-1]) and groups[-1] <= 4 or groups in _CARD_GROUPS
    digits = candidate.replace(" ", "").replace("-", "")
    return (len(groups) == 1 or printed) and 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _is_secret(value: str) -> bool:
    """Whether the value of a `key: value` pair can be a secret (not a word such as "must" or "expired")."""
    return value.rstrip(".!?").lower() not in _NOT_SECRET


def _iban_length(text: str, start: int, candidate: str) -> int:
    """Length of the longest valid IBAN that `candidate` (found at `start`) begins with and that ends a word; or 0."""
    for end in range(len(candidate), 14, -1):
        ends_word = candidate[end] == " " if end < len(candidate) else not text[start + end : start + end + 1].isalnum()
        if ends_word and std_iban.is_valid(candidate[:end]):
            return end
    return 0


def _ibans(text: str, counts: dict[str, int]) -> str:
    """Replace valid IBANs. A candidate may run on into the next upper-case words, so its prefixes are tried; when it
    holds none, the search goes on from its second group."""
    out: list[str] = []
    pos = last = 0
    while match := _IBAN.search(text, pos):
        candidate = match.group(0)
        length = _iban_length(text, match.start(), candidate)
        if length:
            out += [text[last : match.start()], _placeholder("iban")]
            pos = last = match.start() + length
            counts["iban"] = counts.get("iban", 0) + 1
        else:
            space = candidate.find(" ")
            pos = match.start() + space + 1 if space > 0 else match.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _phones(text: str, region: str, counts: dict[str, int]) -> str:
    """Replace the numbers `phonenumbers` finds valid; the matcher is skipped when the text has fewer than 7 digits."""
    if not _SEVEN_DIGITS.search(text):
        return text
    out: list[str] = []
    pos = 0
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID, **_MATCHER_OPTIONS)
    for match in matcher:
        if _VERSION_PHONE.fullmatch(match.raw_string):
            continue
        out.append(text[pos : match.start])
        out.append(_placeholder("phone"))
        pos = match.end
        counts["phone"] = counts.get("phone", 0) + 1
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _redact_without_phones(text: str, counts: dict[str, int]) -> str:
    """One pass of every kind but phone, in order: secret, email, ip, iban, card."""
    for pattern in _SECRETS:
        text = _sub(pattern, text, "secret", counts, _is_secret if pattern is _KEY_VALUE else _always)
    if "@" in text:
        text = _sub(_EMAIL, text, "email", counts, _always)
    if ":" in text:
        text = _sub(_IPV6, text, "ip", counts, _is_ipv6)
    if "." in text:
        text = _sub(_IPV4, text, "ip", counts, _is_ipv4, unless_after=_VERSION_BEFORE)
    text = _ibans(text, counts)
    return _sub(_CARD, text, "card", counts, _is_card)


def redact(text: str, default_region: str = "US") -> Redaction:
    """Replace emails, phone numbers, cards, IBANs, IP addresses and secrets in `text` by [KIND] placeholders.

    `default_region` (ISO 3166 alpha-2) is the country whose national phone format is recognised without a +.
    """
    counts: dict[str, int] = {}
    for attempt in range(_MAX_PASSES):
        before = sum(counts.values())
        text = _redact_without_phones(text, counts)
        # The phone matcher (the slow part) only needs to run again when another kind changed the text since.
        if attempt == 0 or sum(counts.values()) > before:
            text = _phones(text, default_region, counts)
        if sum(counts.values()) == before:
            break
    return Redaction(text=text, counts={kind: counts[kind] for kind in KINDS if counts.get(kind)})
