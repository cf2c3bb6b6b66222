"""The iTEP `registration` fields: the seed's list, its value lists and its error messages to the letter."""

import pytest

from gateway import itep
from gateway.errors import InvalidInput

SEED_REGISTRATION = {
    "Last_Name": "Poppins", "First_Name": "Mary", "Email": "m.poppins@disney.com", "Birthday": "1955-07-08",
    "OIN": "123-456-7890", "OIN_Country": "US", "OIN_Type": "1", "Address": "10119 Popular Lane",
    "City": "Los Angeles", "Field_Of_Study": "Biology",
}  # fmt: skip


def _message(fields):
    with pytest.raises(InvalidInput) as info:
        itep.validate_registration(fields)
    return info.value.description


def test_the_seed_example_fails_on_its_study_field_and_passes_with_science():
    assert _message(SEED_REGISTRATION) == "Invalid Study Field [Biology]"
    clean = itep.validate_registration({**SEED_REGISTRATION, "Field_Of_Study": "Science"})
    assert clean["Field_Of_Study"] == "Science" and clean["Birthday"] == "1955-07-08"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"DOB_Month": 13}, "Out of range Birth Month [13]"),
        ({"DOB_Month": "0"}, "Out of range Birth Month [0]"),
        ({"DOB_Month": "May"}, "Out of range Birth Month [May]"),
        ({"DOB_Day": 32}, "Out of range Birth Day [32]"),
        ({"DOB_Day": "0"}, "Out of range Birth Day [0]"),
        ({"DOB_Year": 1900}, "Out of range Birth Year [1900]"),
        ({"DOB_Year": "3000"}, "Out of range Birth Year [3000]"),
        ({"Birthday": "x"}, "Unable to parse Birth Date [x]"),
        ({"Birthday": "7/1955"}, "Unable to parse Birth Date [7/1955]"),
        ({"Birthday": "13/8/1955"}, "Out of range Birth Month [13]"),
        ({"Birthday": "7/32/1955"}, "Out of range Birth Day [32]"),
        ({"Birthday": "8-13-1955"}, "Out of range Birth Month [13]"),
        ({"Birthday": "7/8/1899"}, "Out of range Birth Year [1899]"),
        ({"Birthday": "1955-13-08"}, "Out of range Birth Month [13]"),
        # three numbers are parsed; a short year is out of range, not unparseable
        ({"Birthday": "1/2/99"}, "Out of range Birth Year [99]"),
        ({"Birthday": "2-1-999"}, "Out of range Birth Year [999]"),
        ({"Birthday": "1/2/3"}, "Out of range Birth Year [3]"),
        ({"Birthday": "1/2-1990"}, "Unable to parse Birth Date [1/2-1990]"),
        ({"Birthday": "1/2/1990/4"}, "Unable to parse Birth Date [1/2/1990/4]"),
        ({"Gender": "x"}, "Invalid Gender [x]"),
        ({"Education": "Kindergarten"}, "Invalid Education [Kindergarten]"),
        ({"Field_Of_Study": "Biology"}, "Invalid Study Field [Biology]"),
    ],
)
def test_each_rule_gives_the_seed_message(fields, message):
    assert _message(fields) == message


@pytest.mark.parametrize("birthday", ["7/8/1955", "8-7-1955", "1955-07-08", "12/31/1999", "31-12-1999"])
def test_birthday_accepts_the_three_shapes(birthday):
    assert itep.validate_registration({"Birthday": birthday}) == {"Birthday": birthday}


def test_value_lists_are_case_insensitive_and_stored_in_the_seed_spelling():
    clean = itep.validate_registration(
        {"gender": "FEMALE", "Education": "master's degree", "Field_Of_Study": " other languages "}
    )
    assert clean == {"Gender": "Female", "Education": "Master's Degree", "Field_Of_Study": "Other Languages"}


def test_an_unknown_field_name_is_named_in_the_error():
    with pytest.raises(InvalidInput) as info:
        itep.validate_registration({"Favourite_Colour": "blue"})
    assert info.value.description == "registration.Favourite_Colour: unknown registration field"


def test_every_seed_field_is_accepted():
    special = {
        "DOB_Year": "1990",
        "Birthday": "1/2/1990",
        "Gender": "Male",
        "Education": "Doctorate",
        "Field_Of_Study": "Music",
    }
    fields = {name: special.get(name, "1") for name in itep.REGISTRATION_FIELDS}
    assert itep.validate_registration(fields) == fields


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("GTX-Academic-Plus", ("GTX", "Academic-Plus")),
        ("STX-Academic-Plus", ("STX", "Academic-Plus")),
        ("gtx-Academic-Plus", ("GTX", "Academic-Plus")),
        ("Stx-academic-plus", ("STX", "academic-plus")),
    ],
)
def test_product_codes(code, expected):
    assert itep.parse_product_code(code) == expected


@pytest.mark.parametrize("code", ["XTX-Academic", "GTX-", "GTX Academic", "", "GTX-Acad emic"])
def test_malformed_product_codes_are_named(code):
    with pytest.raises(InvalidInput) as info:
        itep.parse_product_code(code)
    assert info.value.description.startswith(f"product-code: unknown product code '{code}'")
