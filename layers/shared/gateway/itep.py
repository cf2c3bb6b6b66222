"""The iTEP fulfilment contract: product codes and the `registration` fields, with the seed's messages.

Error texts are the seed's, to the letter (`Out of range Birth Month [13]`, `Invalid Study Field [x]`, ...):
integrators already match on them. Value lists are compared case-insensitively.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from gateway.errors import InvalidInput

REGISTRATION_FIELDS = (
    "Last_Name", "First_Name", "Middle_Name", "DOB_Month", "DOB_Day", "DOB_Year", "Email", "Contact_Phone",
    "Address", "City", "Birthday", "Country", "Nationality", "OIN", "OIN_Country", "OIN_Type", "Language",
    "Center", "Gender", "Education", "Taken_Test", "DOT_Month", "DOT_Day", "DOT_Year", "Location",
    "Admin_Test_Location", "Agree", "Honest", "Applying_To_School",
    "Apply_School_Type_1", "Apply_School_Name_1", "Apply_School_Other_1",
    "Apply_School_Type_2", "Apply_School_Name_2", "Apply_School_Other_2",
    "Apply_School_Type_3", "Apply_School_Name_3", "Apply_School_Other_3",
    "Field_Of_Study", "Location_Country", "Location_Region", "Location_Name",
    "trSchoolLevel", "trReferral", "trExternal_ID", "trCampus", "trCollege", "trDepartment", "trDegree",
    "trStatus", "trAttribute", "trStudent_Number", "trBatch_Number",
)  # fmt: skip
GENDERS = ("Male", "Female")
EDUCATION = (
    "Middle School",
    "High School",
    "Vocational School",
    "Bachelor's Degree",
    "Master's Degree",
    "Doctorate",
)
STUDY_FIELDS = (
    "Other", "Business Communication", "Education", "English", "Engineering", "History", "Hospitality",
    "Other Languages", "Mathematics", "Medical", "Music", "Politics", "Recreation", "Science",
)  # fmt: skip
MAX_VALUE = 200
PRODUCT_CODE = re.compile(r"^(GTX|STX)-([A-Za-z0-9][A-Za-z0-9_-]{0,62})$", re.IGNORECASE)
TEST_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

_BY_LOWER = {name.lower(): name for name in REGISTRATION_FIELDS}


class RegistrationError(InvalidInput):
    """A registration field refused with the seed's own message as the description."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"registration.{field}", message)
        self.description = message


def parse_product_code(code: str) -> tuple[str, str]:
    """('GTX' | 'STX', test type) of a product code, or a 400 naming it."""
    match = PRODUCT_CODE.match(code.strip())
    if not match:
        raise InvalidInput(
            "product-code", f"unknown product code '{code}' (expected GTX-<TestType> or STX-<TestType>)"
        )
    return match.group(1).upper(), match.group(2)


def _text(value: Any) -> str:
    return str(value).strip()


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = _text(value)
    return int(text) if re.fullmatch(r"[0-9]{1,4}", text) else None


def _check_month(value: Any) -> int:
    month = _number(value)
    if month is None or not 1 <= month <= 12:
        raise RegistrationError("DOB_Month", f"Out of range Birth Month [{_text(value)}]")
    return month


def _check_day(value: Any) -> int:
    day = _number(value)
    if day is None or not 1 <= day <= 31:
        raise RegistrationError("DOB_Day", f"Out of range Birth Day [{_text(value)}]")
    return day


def _check_year(value: Any) -> int:
    year = _number(value)
    if year is None or not 1900 < year <= datetime.now(UTC).year:
        raise RegistrationError("DOB_Year", f"Out of range Birth Year [{_text(value)}]")
    return year


def parse_birthday(value: Any) -> tuple[int, int, int]:
    """(year, month, day) of `M/D/YYYY`, `D-M-YYYY` or ISO `YYYY-MM-DD`."""
    text = _text(value)
    # The seed: "Not providing 3 numbers" is the parse error; three numbers out of range name the part.
    match = re.fullmatch(r"([0-9]+)([/-])([0-9]+)\2([0-9]+)", text)
    if not match:
        raise RegistrationError("Birthday", f"Unable to parse Birth Date [{text}]")
    first, separator, second, third = match.groups()
    if separator == "/":
        month, day, year = first, second, third
    elif len(first) == 4:  # ISO YYYY-MM-DD (the seed's own example)
        year, month, day = first, second, third
    else:
        day, month, year = first, second, third
    return _check_year(year), _check_month(month), _check_day(day)


def _choice(field: str, value: Any, allowed: tuple[str, ...], label: str) -> str:
    text = _text(value)
    for option in allowed:
        if option.lower() == text.lower():
            return option
    raise RegistrationError(field, f"Invalid {label} [{text}]")


def validate_registration(fields: dict[str, Any]) -> dict[str, Any]:
    """The registration object with field names in the seed's spelling, or the seed's error for the first
    bad field. Unknown field names are refused, naming them."""
    clean: dict[str, Any] = {}
    for raw_name, value in fields.items():
        name = _BY_LOWER.get(str(raw_name).strip().lower())
        if name is None:
            raise InvalidInput(f"registration.{raw_name}", "unknown registration field")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, bool):
            value = int(value)  # flags such as Agree / Honest travel as 0 / 1
        if isinstance(value, (dict, list)):
            raise InvalidInput(f"registration.{name}", "must be a string or a number")
        if len(_text(value)) > MAX_VALUE:
            raise InvalidInput(f"registration.{name}", f"must be at most {MAX_VALUE} characters")
        if name == "DOB_Month":
            _check_month(value)
        elif name == "DOB_Day":
            _check_day(value)
        elif name == "DOB_Year":
            _check_year(value)
        elif name == "Birthday":
            parse_birthday(value)
        elif name == "Gender":
            value = _choice(name, value, GENDERS, "Gender")
        elif name == "Education":
            value = _choice(name, value, EDUCATION, "Education")
        elif name == "Field_Of_Study":
            value = _choice(name, value, STUDY_FIELDS, "Study Field")
        clean[name] = value if isinstance(value, (int, float)) else _text(value)
    return clean
