"""Money as Decimal: ISO 4217 currencies, their exponents, and minor units."""

from decimal import Decimal, InvalidOperation

from connectors.errors import InvalidPayloadError

# ISO 4217 active codes (list one, 2024) whose minor unit is not 2.
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(),
                    0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
_TWO_DECIMALS = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD
LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN
PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
""".split()
EXPONENTS = {**dict.fromkeys(_TWO_DECIMALS, 2), **_EXPONENTS}

# Largest amount we accept in any currency (major units): above it a payload is "absurd".
MAX_AMOUNT = Decimal("1000000000")


def currency_code(value) -> str:
    """Upper-case ISO 4217 code, or InvalidPayloadError for anything else."""
    code = str(value or "").strip().upper()
    if code not in EXPONENTS:
        raise InvalidPayloadError(f"unknown currency {str(value)[:16]!r}")
    return code


def exponent(currency: str) -> int:
    """Number of decimal digits of the currency's minor unit (JPY 0, EUR 2, KWD 3)."""
    return EXPONENTS[currency_code(currency)]


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-exponent(currency)))


def from_minor(units, currency: str, exponents: dict[str, int] | None = None) -> Decimal:
    """Integer minor units (Stripe style) to a Decimal in major units."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidPayloadError(f"amount {str(units)[:32]!r} is not an integer of minor units")
    code = currency_code(currency)
    digits = (exponents or {}).get(code, EXPONENTS[code])
    return quantize(check_amount(Decimal(units).scaleb(-digits)), code)


def from_string(value, currency: str) -> Decimal:
    """A decimal string in major units (Shopify, WooCommerce style) to a Decimal."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidPayloadError(f"amount {str(value)[:32]!r} is not a decimal string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidPayloadError(f"amount {str(value)[:32]!r} is not a number") from None
    if not amount.is_finite():
        raise InvalidPayloadError(f"amount {str(value)[:32]!r} is not a number")
    return quantize(check_amount(amount), currency)


def check_amount(amount: Decimal) -> Decimal:
    """Refuse negative and absurd amounts."""
    if amount < 0:
        raise InvalidPayloadError(f"negative amount {amount}")
    if amount > MAX_AMOUNT:
        raise InvalidPayloadError(f"absurd amount {amount}")
    return amount


def to_string(amount: Decimal, currency: str) -> str:
    """Plain decimal string with the currency's digits ('19.99', '1500', '12.340')."""
    return f"{quantize(amount, currency):f}"
