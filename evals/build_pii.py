"""Build evals/datasets/pii.jsonl: support-ticket, meeting and review texts with known personal data and secrets, and
look-alike texts without any, generated from templates with a fixed seed (`python -m evals.build_pii`).

Each row: `input.text`; `target.spans`: every piece of personal data in it as {kind, variant, value, promised}
(`promised`: `pipelines.redact` says it redacts it, with its default region US); `metadata.template`, and
`metadata.split`: dev or test, half of each template's texts at random. Values are drawn in real formats: phone
numbers in real number ranges of their country (checked valid with `phonenumbers`, as a real number is), Luhn-valid
cards of real issuer prefixes, IBANs with valid check digits (and national check digits where the country has
them), tokens of the providers' formats. Texts without PII carry look-alikes: versions, order ids, dates, times,
prices, ticket keys, barcodes, tracking numbers.
"""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn

from evals.dataset import DATASETS_DIR

SEED = 15
PII_TEXTS = 220
CLEAN_TEXTS = 120
Piece = tuple[str, str, str, str, str, bool]  # before, value, after, kind, variant, promised

FIRST = (
    "Jane", "Priya", "Jonas", "Amélie", "Carlos", "Aiko", "Olusegun", "Wei", "Fatima", "Liam", "Sofia", "Mateus",
    "Ingrid", "Rahul", "Chloé", "Dmitri", "Nomvula", "Lukas", "Ana", "Hiroshi", "Emily", "Mohammed", "Zoe", "Tomás",
)  # fmt: skip
LAST = (
    "Doe", "Raman", "Müller", "Dubois", "Oliveira", "Tanaka", "Adeyemi", "Chen", "Haddad", "O'Brien", "Rossi",
    "Santos", "Larsen", "Gupta", "Lefèvre", "Ivanov", "Dlamini", "Schmidt", "García", "Sato", "Walsh", "Khan",
    "Nguyen", "Fernández",
)  # fmt: skip
DOMAINS = ("example.com", "mail.example.org", "example.co.uk", "acme-corp.example", "example.de", "uni.example.edu")


# --- values -------------------------------------------------------------------------------------------------------
def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def email(rng: random.Random) -> str:
    first, last = (_ascii(rng.choice(FIRST)), _ascii(rng.choice(LAST)))
    local = rng.choice(
        [f"{first}.{last}", f"{first}{last}", f"{first[0]}{last[:5]}{rng.randint(1, 99)}", f"{first}.{last}+billing",
         f"{first.upper()}.{last.upper()}", "support-team"]
    )  # fmt: skip
    return f"{local.lower() if local.islower() else local}@{rng.choice(DOMAINS)}"


def _ascii(word: str) -> str:
    """'Müller' -> 'muller', "O'Brien" -> 'obrien'."""
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


def _nsn(rng: random.Random, region: str) -> str:
    """A national significant number that is valid in the region (fixed line or mobile)."""
    patterns = {
        "US": [lambda: rng.choice(["212", "415", "646", "312", "617", "206", "303", "512", "702", "305"])
               + str(rng.randint(2, 9)) + _digits(rng, 6)],
        "GB": [lambda: "20" + rng.choice("78") + _digits(rng, 7), lambda: "7" + rng.choice("4789") + _digits(rng, 8)],
        "DE": [lambda: "30" + _digits(rng, 8), lambda: "15" + rng.choice("12579") + _digits(rng, 8)],
        "FR": [lambda: str(rng.randint(1, 5)) + _digits(rng, 8), lambda: rng.choice("67") + _digits(rng, 8)],
        "IN": [lambda: rng.choice("6789") + _digits(rng, 9)],
        "BR": [lambda: "11" + rng.choice("2345") + _digits(rng, 7), lambda: "11" + "9" + _digits(rng, 8)],
        "ES": [lambda: "6" + _digits(rng, 8), lambda: "91" + _digits(rng, 7)],
        "AU": [lambda: "4" + _digits(rng, 8), lambda: "2" + rng.choice("89") + _digits(rng, 7)],
    }  # fmt: skip
    while True:
        nsn = rng.choice(patterns[region])()
        number = phonenumbers.parse("+" + str(phonenumbers.country_code_for_region(region)) + nsn)
        if phonenumbers.is_valid_number(number):
            return nsn


def _group(digits: str, sizes: list[int], sep: str = " ") -> str:
    out, at = [], 0
    for size in sizes:
        out.append(digits[at : at + size])
        at += size
    return sep.join(out)


def phone(rng: random.Random, region: str, international: bool) -> str:
    """A number as people write it in that country: national, or international with +."""
    nsn = _nsn(rng, region)
    cc = phonenumbers.country_code_for_region(region)
    if region == "US":
        a, e, line = nsn[:3], nsn[3:6], nsn[6:]
        if international:
            return rng.choice([f"+1 {a} {e} {line}", f"+1 ({a}) {e}-{line}", f"+1-{a}-{e}-{line}"])
        return rng.choice([f"({a}) {e}-{line}", f"{a}-{e}-{line}", f"{a}.{e}.{line}", f"{a} {e} {line}"])
    if region == "GB":
        body = _group(nsn, [2, 4, 4]) if nsn.startswith("2") else _group(nsn, [4, 6])
        opt = rng.choice(["", "(0)"])
        return f"+44 {opt}{body}" if international else f"0{body}"
    if region == "DE":
        area = 2 if nsn.startswith("30") else 3
        if international:
            return rng.choice([f"+49 {nsn[:area]} {nsn[area:]}", f"+49 (0){nsn[:area]} {nsn[area:]}"])
        return rng.choice([f"0{nsn[:area]} {nsn[area:]}", f"0{nsn[:area]}/{nsn[area:]}"])
    if region == "FR":
        pairs = _group(nsn[1:], [2, 2, 2, 2])
        if international:
            return f"+33 {nsn[0]} {pairs}"
        return rng.choice([f"0{nsn[0]} {pairs}", f"0{nsn[0]}.{pairs.replace(' ', '.')}"])
    if region == "IN":
        if international:
            return rng.choice([f"+91 {nsn[:5]} {nsn[5:]}", f"+91-{nsn}"])
        return rng.choice([f"0{nsn[:5]} {nsn[5:]}", f"{nsn[:5]} {nsn[5:]}"])
    if region == "BR":
        area, rest = nsn[:2], nsn[2:]
        body = f"{rest[:-4]}-{rest[-4:]}"
        return rng.choice([f"+55 {area} {body}", f"+55 ({area}) {body}"]) if international else f"({area}) {body}"
    if region == "ES":
        body = _group(nsn, [3, 2, 2, 2]) if nsn[0] == "6" else _group(nsn, [2, 3, 2, 2])
        return f"+34 {body}" if international else body
    body = _group(nsn, [3, 3, 3]) if nsn[0] == "4" else f"{nsn[0]} {nsn[1:5]} {nsn[5:]}"
    if international:
        return f"+{cc} {body}"
    return f"0{body}" if nsn[0] == "4" else f"(0{nsn[0]}) {nsn[1:5]} {nsn[5:]}"


CARD_PREFIXES = [("visa", "4", 16), ("visa", "4", 13), ("mastercard", "5", 16), ("mastercard", "2", 16),
                 ("amex", "3", 15), ("discover", "6011", 16), ("jcb", "35", 16), ("diners", "36", 14)]  # fmt: skip


def card(rng: random.Random) -> str:
    brand, prefix, length = rng.choice(CARD_PREFIXES)
    if brand == "mastercard":
        prefix = str(rng.randint(51, 55)) if prefix == "5" else str(rng.randint(2221, 2720))
    elif brand == "amex":
        prefix = rng.choice(["34", "37"])
    elif brand == "jcb":
        prefix = str(rng.randint(3528, 3589))
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    sizes = {15: [4, 6, 5], 14: [4, 6, 4], 13: [4, 4, 5]}.get(length, [4, 4, 4, 4])
    style = rng.choice(["space", "space", "dash", "compact"])
    return number if style == "compact" else _group(number, sizes, " " if style == "space" else "-")


IBAN_BBAN: dict[str, Callable[[random.Random], str]] = {
    "DE": lambda r: _digits(r, 18),
    "GB": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 14),
    "FR": lambda r: _digits(r, 23),
    "NL": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 10),
    "ES": lambda r: _digits(r, 20),
    "IT": lambda r: r.choice(string.ascii_uppercase) + _digits(r, 22),
    "BE": lambda r: _digits(r, 12),
    "CH": lambda r: _digits(r, 17),
    "AT": lambda r: _digits(r, 16),
    "PL": lambda r: _digits(r, 24),
}


def iban(rng: random.Random) -> str:
    """An IBAN whose check digits (and national check digits, where the country has them) are valid."""
    country = rng.choice(sorted(IBAN_BBAN))
    while True:
        bban = IBAN_BBAN[country](rng)
        check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
        value = f"{country}{check:02d}{bban}"
        if std_iban.is_valid(value):
            break
    return value if rng.random() < 0.3 else " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _alnum(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def token(rng: random.Random) -> tuple[str, str]:
    """(variant, value) of a provider token format."""
    variant = rng.choice(["aws_key_id", "github", "github_pat", "slack", "stripe", "google", "jwt"])
    value = {
        "aws_key_id": lambda: rng.choice(["AKIA", "ASIA"]) + _alnum(rng, 16, string.ascii_uppercase + "234567"),
        "github": lambda: rng.choice(["ghp_", "gho_", "ghs_"]) + _alnum(rng, 36),
        "github_pat": lambda: "github_pat_11" + _alnum(rng, 20, string.ascii_uppercase + string.digits) + "_"
        + _alnum(rng, 59),
        "slack": lambda: f"xoxb-{_digits(rng, 11)}-{_digits(rng, 13)}-{_alnum(rng, 24)}",
        "stripe": lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + _alnum(rng, 24),
        "google": lambda: "AIza" + _alnum(rng, 35, string.ascii_letters + string.digits + "-_"),
        "jwt": lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _alnum(rng, 40, string.ascii_letters + "-_")
        + "." + _alnum(rng, 43, string.ascii_letters + string.digits + "-_"),
    }[variant]()  # fmt: skip
    return variant, value


def password(rng: random.Random) -> str:
    word = rng.choice(["Summer", "hunter", "Winter", "Dragon", "Bluebird", "Passw0rd", "Tr0ub4dor", "Mango"])
    return word + rng.choice(["2024!", "42", "#7", "&3", "_99", "!!", "$1", "2023"])


def name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def address(rng: random.Random) -> tuple[str, str]:
    """(country, postal address as written there)."""
    country = rng.choice(["US", "GB", "DE", "FR", "IN", "BR"])
    n = rng.randint(2, 480)
    value = {
        "US": lambda: f"{n} {rng.choice(['Maple', 'Oak', 'Cedar', 'Pine', 'Elm'])} "
        f"{rng.choice(['Street', 'Ave', 'Drive', 'Blvd'])}, "
        f"{rng.choice(['Springfield, IL', 'Austin, TX', 'Portland, OR'])} {rng.randint(10000, 99999)}",
        "GB": lambda: f"{n} {rng.choice(['Baker Street', 'High Street', 'Station Road'])}, "
        f"{rng.choice(['London NW1 6XE', 'Leeds LS1 4AP', 'Bristol BS1 5TR'])}",
        "DE": lambda: f"{rng.choice(['Hauptstraße', 'Bahnhofstr.', 'Gartenweg'])} {n % 90 + 1}, "
        f"{rng.randint(10115, 99998)} {rng.choice(['Berlin', 'München', 'Hamburg'])}",
        "FR": lambda: f"{n % 90 + 1} {rng.choice(['rue de Rivoli', 'avenue Victor Hugo', 'boulevard Voltaire'])}, "
        f"750{rng.randint(1, 20):02d} Paris",
        "IN": lambda: f"Flat {n % 40 + 1}B, {rng.choice(['MG Road', 'Park Street', 'Linking Road'])}, "
        f"{rng.choice(['Bengaluru 560001', 'Kolkata 700016', 'Mumbai 400050'])}",
        "BR": lambda: f"Rua {rng.choice(['Augusta', 'das Flores', 'Oscar Freire'])} {n * 3}, São Paulo - SP, "
        f"0{rng.randint(1000, 5999)}-{rng.randint(0, 999):03d}",
    }[country]()  # fmt: skip
    return country, value


def ip(rng: random.Random) -> str:
    return rng.choice(
        [f"203.0.113.{rng.randint(1, 254)}", f"192.168.{rng.randint(0, 20)}.{rng.randint(2, 254)}",
         f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
         f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"]
    )  # fmt: skip


# --- slots: a piece of PII with the words around it that belong to the sentence --------------------------------
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "ES", "AU")


def slot(rng: random.Random, kind: str) -> Piece:
    if kind == "email":
        return "", email(rng), "", "email", "address", True
    if kind == "phone":
        region = rng.choice(PHONE_REGIONS)
        international = rng.random() < 0.5
        promised = international or region == "US"
        variant = f"{region.lower()}_{'intl' if international else 'national'}"
        return "", phone(rng, region, international), "", "phone", variant, promised
    if kind == "card":
        return "", card(rng), "", "card", "luhn_valid", True
    if kind == "iban":
        value = iban(rng)
        return "", value, "", "iban", value[:2], True
    if kind == "token":
        variant, value = token(rng)
        return "", value, "", "secret", variant, True
    if kind == "bearer":
        _, value = token(rng) if rng.random() < 0.3 else ("", _alnum(rng, 32, string.ascii_letters + string.digits))
        return rng.choice(["Authorization: Bearer ", "-H 'Authorization: Bearer "]), value, "", "secret", "bearer", True
    if kind == "kv_password":
        key = rng.choice(["password: ", "pwd=", "DB_PASSWORD=", "passphrase: ", '"password": "'])
        after = '"' if key.endswith('"') else ""
        return key, password(rng), after, "secret", "password_key_value", True
    if kind == "aws_secret":
        key = rng.choice(["aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY="])
        return key, _alnum(rng, 40, string.ascii_letters + string.digits + "/+"), "", "secret", "aws_secret_key", True
    if kind == "url_password":
        user = rng.choice(["admin", "app", "deploy"])
        host = rng.choice(["db.internal:5432/app", "redis.internal:6379", "mysql.internal:3306/shop"])
        return (
            f"{rng.choice(['postgres', 'redis', 'mysql'])}://{user}:",
            password(rng),
            f"@{host}",
            "secret",
            "url_password",
            True,
        )
    if kind == "prose_password":
        lead = rng.choice(["my password is ", "the password is ", "I set the password to ", "pw is "])
        return lead, password(rng), "", "secret", "password_in_prose", False
    if kind == "name":
        return "", name(rng), "", "name", "person", False
    if kind == "address":
        country, value = address(rng)
        return "", value, "", "address", country, False
    if kind == "ip":
        return "", ip(rng), "", "ip", "address", True
    raise ValueError(kind)


PII_TEMPLATES = [
    "Hi, I'm {name} and I can't log in since Tuesday. My account email is {email}, please call me back on {phone}.",
    "Customer {name} ({email}) was charged twice on card {card}; please refund to {iban} asap.",
    "Meeting notes 12 March: {name} will send the signed contract to {email} by Friday. Her number is {phone}.",
    "2 stars. Delivery to {address} took three weeks and nobody ever answered at {phone}.",
    "Our CI broke after someone pasted {token} into the build log of PROJ-482, rotate it asap.",
    "Webhook returns 401 since the 3.2 release. Request: curl -X POST https://api.example.com/v2/hooks {bearer}'",
    "Can't connect to staging, here is my config: {kv_password} host=db.internal port 5432",
    "I forgot my login, {prose_password} but it says wrong credentials. Can you reset it? {email}",
    "Please update my billing details: new card {card}, expiry 09/27. Invoice INV-2024-0113 is still open.",
    "Payout failed for order #58213. Account holder {name}, IBAN {iban}, BIC COBADEFFXXX.",
    "Action item: {name} to rotate the leaked key {token} and check the access logs from {ip}.",
    "The app crashes on login for our user {email} (iOS 17.2, app 4.8.1). Reach her on {phone} after 5pm.",
    "Sales call recap: {name} ({phone}) wants 40 seats, send the quote to {email} before the 30th.",
    "Refund request: I paid $129.99 with {card} on 14/02/2024 but the order never arrived at {address}.",
    "Deploy log shows {aws_secret} in plain text, see build 1832 of pipeline PROJ-77.",
    "Logs: connection string {url_password} failed with timeout after 30 s.",
    "Five stars! {name} from support fixed my sync problem in ten minutes. Thanks!",
    "Can someone call me at {phone}? The export to PDF still fails for invoices over 200 lines.",
    "Standup: {name} is out today, if urgent text {phone}. Release 2.6.1 goes out Thursday.",
    "Shipping address changed to {address}, phone {phone}, email {email}. Order 100-4829.",
    "Our SSO broke. Debug output: {bearer} (expired?) and the IdP at {ip} refuses it.",
    "Please wire the deposit to {iban} and mail the receipt to {email}. Reference PROJ-1193.",
    "I contacted {name} twice about the double charge on {card} - no answer yet.",
    "Found in .env committed to main: {kv_password} and STRIPE_KEY {token}. Removing now.",
    "Customer says: call me on {phone} or {phone}, whichever works, between 9 and 11.",
    "Bank details for the reimbursement: {name}, {iban}. Amount EUR 240,00.",
    "New lead from the webinar: {name}, {email}, {phone}, interested in the Enterprise plan.",
    "Support chat transcript: 'hi its {name}, my email is {email} and {prose_password}, pls help'",
    "Login attempts for {email} came from {ip} and {ip} within two minutes.",
    "Retro note: we pasted a production token ({token}) in Slack; {name} rotated it within the hour.",
]
CLEAN_TEMPLATES = [
    "Upgrade to {version} fixed the crash, but {version} still shows the blank screen on {device}.",
    "Order {order} was delivered on {date} but the invoice says {date2}.",
    "The monthly plan went from {price} to {price2} without any email, please explain.",
    "See {ticket} and {ticket2}: the export times out after {seconds} seconds on large files.",
    "Call me later, I'm in meetings until {time}. It's about ticket {ticket}.",
    "Sprint review on {date} at {time}: demo of {ticket}, {ticket2} and the new search filters.",
    "Firmware {fourpart} on the {device} drops the Wi-Fi connection every few hours.",
    "Refund of {price} for order {order} was approved on {date}, ref {refnum}.",
    "Chrome {chrome} on Windows 11 shows a 502 error on checkout since {date}.",
    "Tracking number {tracking} hasn't moved since {date}; the order total was {price}.",
    "Product {sku} (EAN {ean}) is listed at {price} but the shelf says {price2}.",
    "Build {fourpart} broke the login page, reverting to {version}.",
    "The token expired after {seconds} seconds; the password reset email arrives {minutes} minutes late.",
    "Customer {customer} asked for {count} extra seats on the {plan} plan, effective {date}.",
    "Error code 0x{hexcode} when syncing {count} files; app version {version}.",
    "Meeting moved to {date} at {time}, room {room}, dial-in code is posted in the team channel.",
    "The error says 'Password: must contain a digit' even though mine has three.",
    "Amazon-style order number {amazon} shows twice in the order history.",
    "Invoice {invoice} for {price} is due on {date}; PO number {po}.",
    "Please ping me tomorrow morning about {ticket}; release {version} is blocked on it.",
    "Commit {sha} fixed the race in sync.py; CI run {run} passed in {minutes} minutes.",
    "The iPhone 15 Pro and Galaxy S23 both show the price as {price} instead of {price2}.",
    "Ticket volume rose {percent}% week over week; {count} of them mention {ticket}.",
    "Serial {serial}, bought {date}, still under warranty until {date2}.",
    "Screen resolution 1920x1080 at 144 Hz, driver {chrome}, the game stutters every {seconds} s.",
]


def clean_value(rng: random.Random, key: str) -> str:
    """A non-PII look-alike for a placeholder of the clean templates."""
    year = rng.randint(2021, 2026)
    values: dict[str, Callable[[], str]] = {
        "version": lambda: f"{rng.randint(1, 12)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "fourpart": lambda: f"{rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 250)}",
        "chrome": lambda: f"{rng.randint(110, 131)}.0.{rng.randint(5000, 6999)}.{rng.randint(10, 250)}",
        "device": lambda: rng.choice(["Pixel 8", "iPad Air", "Galaxy Tab S9", "FritzBox 7590", "Kindle Paperwhite"]),
        "order": lambda: rng.choice(
            [
                f"#{rng.randint(10000, 99999)}",
                f"ORD-{rng.randint(100000, 999999)}",
                f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            ]
        ),  # fmt: skip
        "amazon": lambda: f"{rng.randint(100, 999)}-{_digits(rng, 7)}-{_digits(rng, 7)}",
        "date": lambda: rng.choice(
            [
                f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}",
                f"{rng.choice(['Jan', 'Mar', 'Jul', 'Oct'])} {rng.randint(1, 28)}, {year}",
            ]
        ),  # fmt: skip
        "time": lambda: rng.choice(
            [
                f"{rng.randint(8, 18)}:{rng.choice(['00', '15', '30', '45'])}",
                f"{rng.randint(1, 12)}pm",
                f"{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
            ]
        ),  # fmt: skip
        "price": lambda: rng.choice(
            [
                f"${rng.randint(5, 2000)}.{rng.randint(0, 99):02d}",
                f"€{rng.randint(5, 500)},90",
                f"£{rng.randint(5, 300)}",
                f"${rng.randint(1, 9)},{rng.randint(100, 999)}.00",
            ]
        ),  # fmt: skip
        "ticket": lambda: f"{rng.choice(['PROJ', 'SHOP', 'APP', 'OPS', 'WEB'])}-{rng.randint(1, 9999)}",
        "seconds": lambda: str(rng.choice([30, 45, 60, 90, 120])),
        "minutes": lambda: str(rng.randint(2, 45)),
        "refnum": lambda: f"RF{rng.randint(100000, 999999)}",
        "tracking": lambda: rng.choice(
            [
                f"1Z{_alnum(rng, 16, string.ascii_uppercase + string.digits)}",
                f"9400 1{_digits(rng, 3)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 2)}",
            ]
        ),  # fmt: skip
        "sku": lambda: f"SKU-{rng.randint(10000, 99999)}",
        "ean": lambda: _ean(rng),
        "customer": lambda: rng.choice([f"#{rng.randint(1000, 99999)}", f"ACC-{rng.randint(100000, 999999)}"]),
        "count": lambda: str(rng.randint(2, 400)),
        "plan": lambda: rng.choice(["Team", "Business", "Enterprise", "Starter"]),
        "hexcode": lambda: f"{rng.randint(0x80000000, 0x8FFFFFFF):08X}",
        "room": lambda: f"{rng.randint(1, 12)}.{rng.randint(1, 40):02d}",
        "invoice": lambda: f"INV-{year}-{rng.randint(1, 9999):05d}",
        "po": lambda: f"PO{rng.randint(1000000, 9999999)}",
        "sha": lambda: _alnum(rng, 7, "0123456789abcdef"),
        "run": lambda: f"#{rng.randint(1000, 99999)}",
        "percent": lambda: str(rng.randint(2, 60)),
        "serial": lambda: (
            f"{rng.choice(['5CD', 'C02', 'R58'])}{_alnum(rng, 7, string.ascii_uppercase + string.digits)}"
        ),
    }
    return values[key.rstrip("2")]()


def _ean(rng: random.Random) -> str:
    body = rng.choice(["400", "590", "841", "880"]) + _digits(rng, 9)
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def fill_pii(rng: random.Random, template: str) -> tuple[str, list[dict[str, Any]]]:
    """The template with each {slot} filled, and the spans it holds."""
    out, spans, at = [], [], 0
    for match in re.finditer(r"\{(\w+)\}", template):
        out.append(template[at : match.start()])
        before, value, after, kind, variant, promised = slot(rng, match[1])
        out.append(before + value + after)
        spans.append({"kind": kind, "variant": variant, "value": value, "promised": promised})
        at = match.end()
    out.append(template[at:])
    return "".join(out), spans


def rows(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(PII_TEXTS):
        number = i % len(PII_TEMPLATES)
        text, spans = fill_pii(rng, PII_TEMPLATES[number])
        out.append({"id": f"pii-{i:03d}", "input": {"text": text}, "target": {"spans": spans},
                    "metadata": {"template": f"pii-{number}", "has_pii": True}})  # fmt: skip
    for i in range(CLEAN_TEXTS):
        number = i % len(CLEAN_TEMPLATES)
        text = re.sub(r"\{(\w+)\}", lambda m: clean_value(rng, m[1]), CLEAN_TEMPLATES[number])
        out.append({"id": f"clean-{i:03d}", "input": {"text": text}, "target": {"spans": []},
                    "metadata": {"template": f"clean-{number}", "has_pii": False}})  # fmt: skip
    by_template: dict[str, list[dict[str, Any]]] = {}
    for row in out:
        by_template.setdefault(row["metadata"]["template"], []).append(row)
    first = "dev"
    for group in by_template.values():  # half of each template's texts dev, half test (an odd one out alternates)
        rng.shuffle(group)
        second = "test" if first == "dev" else "dev"
        for i, row in enumerate(group):
            row["metadata"]["split"] = first if i % 2 == 0 else second
        if len(group) % 2:
            first = second
    return out


def main(path: Path = DATASETS_DIR / "pii.jsonl") -> None:
    data = rows()
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    spans = [s for r in data for s in r["target"]["spans"]]
    print(f"{len(data)} texts ({sum(r['metadata']['has_pii'] for r in data)} with PII, {len(spans)} spans) -> {path}")


if __name__ == "__main__":
    main()
