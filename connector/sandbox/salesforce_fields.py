"""Salesforce field metadata for the emulator: types, describe entries and value checks.

A :class:`FieldDef` knows how to describe itself (the field entry of ``sobjects/X/describe``)
and how to turn a JSON value from a write into the stored wire value, raising
:class:`FieldError` with the per-record error Salesforce would report.

A JSON value of the wrong type for its field (``"abc"`` for a number, ``"2024-13-45"`` for a
date, an object anywhere) never reaches the per-record checks in Salesforce's REST API: the
request body fails to deserialize and the *whole request* is answered 400 ``JSON_PARSER_ERROR``
"Cannot deserialize instance of double from VALUE_STRING value abc or request may be missing a
required field at [line:1, column:42]". :meth:`FieldDef.deserialize_error` names that case; the
per-record ``INVALID_TYPE_ON_FIELD_IN_RECORD`` ("Label: value not of required type: ...") is left
for a null or empty value sent to a checkbox.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime

from connector.sandbox.soql import FieldInfo, case_safe_id, format_datetime

SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double",
              "currency": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
              "datetime": "xsd:dateTime"}
TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "combobox"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The Java type Salesforce's JSON reader names in a JSON_PARSER_ERROR, by field type.
DESERIALIZE_TYPES = {"double": "double", "currency": "double", "percent": "double", "int": "int",
                     "boolean": "boolean", "date": "date", "datetime": "datetime",
                     "id": "id", "reference": "id"}
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class FieldError(ValueError):
    """One per-record error: Salesforce ``statusCode``, message and the fields it names."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, list(fields or [])

    def as_result(self) -> dict:
        """The error as it appears in a SaveResult's ``errors`` list."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def is_valid_id(value: object) -> bool:
    """True when ``value`` looks like a 15- or 18-character Salesforce id."""
    return isinstance(value, str) and _ID.match(value) is not None


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with its describe metadata and field-level security state."""

    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    custom: bool = False
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    picklist: tuple[str, ...] = ()
    picklist_default: str | None = None
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    name_field: bool = False
    id_lookup: bool = False
    readable: bool = True  # field-level security: hidden fields are absent everywhere
    editable: bool = True
    durable_id: str | None = None  # the CustomField id (00N...) of custom fields

    @property
    def info(self) -> FieldInfo:
        """The SOQL planner's view of this field."""
        return FieldInfo(self.name, self.type)

    def with_access(self, *, readable: bool, editable: bool) -> FieldDef:
        """A copy with new field-level security flags."""
        return replace(self, readable=readable, editable=editable)

    def describe(self) -> dict:
        """The field entry of an sObject describe, with the keys the real API sends."""
        text = self.type in TEXT_TYPES or self.type in ("id", "reference")
        return {
            "aggregatable": self.type not in ("textarea",), "aiPredictionField": False,
            "autoNumber": False, "byteLength": self.length * 3 if text else 0,
            "calculated": False, "calculatedFormula": None, "cascadeDelete": False,
            "caseSensitive": False, "compoundFieldName": None, "controllerName": None,
            "createable": self.createable and self.editable, "custom": self.custom,
            "defaultValue": None, "defaultValueFormula": None,
            "defaultedOnCreate": self.type == "boolean" or self.name in ("OwnerId", "Status", "Id"),
            "dependentPicklist": False, "deprecatedAndHidden": False, "digits": self.digits,
            "displayLocationInDecimal": False, "encrypted": False, "externalId": False,
            "extraTypeInfo": None, "filterable": self.type != "textarea" or self.length <= 255,
            "filteredLookupInfo": None, "formulaTreatNullNumberAsZero": False,
            "groupable": self.type not in ("double", "currency", "percent", "datetime", "textarea"),
            "highScaleNumber": False, "htmlFormatted": False, "idLookup": self.id_lookup,
            "inlineHelpText": None, "label": self.label, "length": self.length if text else 0,
            "mask": None, "maskType": None, "name": self.name, "nameField": self.name_field,
            "namePointing": False, "nillable": self.nillable, "permissionable": self.custom,
            "picklistValues": [
                {"active": True, "defaultValue": value == self.picklist_default, "label": value,
                 "validFor": None, "value": value} for value in self.picklist],
            "polymorphicForeignKey": len(self.reference_to) > 1, "precision": self.precision,
            "queryByDistance": False, "referenceTargetField": None,
            "referenceTo": list(self.reference_to), "relationshipName": self.relationship,
            "relationshipOrder": None, "restrictedDelete": False,
            "restrictedPicklist": self.restricted, "scale": self.scale,
            "searchPrefilterable": False, "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type != "textarea" or self.length <= 255, "type": self.type,
            "unique": False, "updateable": self.updateable and self.editable,
            "writeRequiresMasterRead": False,
        }

    def deserialize_error(self, value: object) -> str | None:
        """Salesforce's JSON_PARSER_ERROR text (without the ``at [line, column]`` tail) when the
        JSON ``value`` cannot be read as this field's type, else None."""
        if value is None or value == "":
            return None
        try:
            self.coerce(value)
        except FieldError as error:
            if error.code != "INVALID_TYPE_ON_FIELD_IN_RECORD":
                return None
        else:
            return None
        if isinstance(value, bool):
            token, shown = ("VALUE_TRUE", "true") if value else ("VALUE_FALSE", "false")
        elif isinstance(value, int):
            token, shown = "VALUE_NUMBER_INT", str(value)
        elif isinstance(value, float):
            token, shown = "VALUE_NUMBER_FLOAT", json.dumps(value)
        elif isinstance(value, dict):
            token, shown = "START_OBJECT", "{"
        elif isinstance(value, list):
            token, shown = "START_ARRAY", "["
        else:
            token, shown = "VALUE_STRING", str(value)
        kind = DESERIALIZE_TYPES.get(self.type, "string")
        return (f"Cannot deserialize instance of {kind} from {token} value {shown} or request "
                "may be missing a required field")

    def coerce(self, value: object):
        """The stored (wire) form of ``value`` for this field, or :class:`FieldError`."""
        if value is None or value == "":
            if self.type == "boolean":  # a checkbox is never null
                raise self._wrong_type("")
            return None
        kind = self.type
        if kind in TEXT_TYPES:
            return self._text(value)
        if kind in ("double", "currency", "percent", "int"):
            return self._number(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise self._wrong_type(value)
        if kind == "date":
            return self._date(value)
        if kind == "datetime":
            return self._datetime(value)
        if kind in ("id", "reference"):
            if not is_valid_id(value):
                raise FieldError("MALFORMED_ID", f"{self.label}: id value of incorrect type: {value}",
                                 [self.name])
            return case_safe_id(value)
        raise self._wrong_type(value)

    def _wrong_type(self, value: object) -> FieldError:
        shown = value if isinstance(value, str) else json.dumps(value)
        return FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                          f"{self.label}: value not of required type: {shown}", [self.name])

    def _text(self, value: object) -> str:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif not isinstance(value, str):
            raise self._wrong_type(value)
        if self.length and len(value) > self.length:
            raise FieldError("STRING_TOO_LONG", f"{self.label}: data value too large: {value} "
                             f"(max length={self.length})", [self.name])
        if self.type == "picklist" and self.restricted and value not in self.picklist:
            raise FieldError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                             f"{self.label}: bad value for restricted picklist field: {value}", [self.name])
        if self.type == "email" and not _EMAIL.match(value):
            raise FieldError("INVALID_EMAIL_ADDRESS", f"{self.label}: invalid email address: {value}",
                             [self.name])
        return value

    def _number(self, value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self._wrong_type(value)
        try:
            number = float(value)
        except ValueError:
            raise self._wrong_type(value) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise self._wrong_type(value)
        if self.type == "int":
            if number != int(number) or len(str(abs(int(number)))) > (self.digits or 9):
                raise FieldError("NUMBER_OUTSIDE_VALID_RANGE", f"{self.label}: value outside of "
                                 f"valid range on numeric field: {value}", [self.name])
            return int(number)
        number = round(number, self.scale)
        if self.precision and abs(number) >= 10 ** (self.precision - self.scale):
            raise FieldError("NUMBER_OUTSIDE_VALID_RANGE",
                             f"{self.label}: value outside of valid range on numeric field: {value}",
                             [self.name])
        return number

    def _date(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise self._wrong_type(value) from None

    def _datetime(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        text = value.replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self._wrong_type(value) from None
        if moment.tzinfo is None:
            raise self._wrong_type(value)
        return format_datetime(moment)


def text(name, label, length, **kw) -> FieldDef:
    """A string field."""
    return FieldDef(name, label, "string", length=length, **kw)


def picklist(name, label, values, default=None, **kw) -> FieldDef:
    """A picklist field with ``values`` (the first is the default when ``default`` is True)."""
    return FieldDef(name, label, "picklist", length=255, picklist=tuple(values),
                    picklist_default=default, **kw)


def system(name, label, ftype, **kw) -> FieldDef:
    """A field the server keeps (ids, audit stamps): readable, never written by clients."""
    kw.setdefault("nillable", False)
    return FieldDef(name, label, ftype, createable=False, updateable=False, **kw)


def reference(name, label, targets, relationship, **kw) -> FieldDef:
    """A lookup to ``targets``."""
    return FieldDef(name, label, "reference", length=18, reference_to=tuple(targets),
                    relationship=relationship, **kw)
