"""Evaluates every key of examples/experiments.toml for each user through the real OpenFeature
Python SDK and its OFREP provider (PyPI openfeature-sdk 0.10.0, openfeature-provider-ofrep
0.3.0) against `abacus serve`, and prints one JSON line per evaluation.

Usage: python_client.py BASE_URL USERS_FILE
Each line of USERS_FILE is a JSON object {"targetingKey": ..., attributes...}.
"""

import json
import sys

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.provider.ofrep import OFREPProvider

BASE_URL, USERS = sys.argv[1], sys.argv[2]
api.set_provider(OFREPProvider(BASE_URL))
client = api.get_client()

# key -> the typed getter an application would use, and its code default
KEYS = [
    ("new-search", client.get_string_details, "unset"),
    ("dark-mode", client.get_boolean_details, False),
    ("free-shipping-threshold", client.get_float_details, -1.0),
    ("search-ranking", client.get_object_details, {}),
    ("checkout-redesign", client.get_string_details, "unset"),
    ("checkout-button-color", client.get_string_details, "unset"),
    ("aa-baseline", client.get_string_details, "unset"),
    ("pricing-annual-discount", client.get_string_details, "unset"),
    ("no-such-flag", client.get_string_details, "fallback"),
]

out = sys.stdout
with open(USERS) as users:
    for line in users:
        attrs = json.loads(line)
        key = attrs.pop("targetingKey")
        ctx = EvaluationContext(targeting_key=key, attributes=attrs)
        for flag, getter, default in KEYS:
            d = getter(flag, default, ctx)
            out.write(json.dumps({
                "user": key,
                "key": flag,
                "value": d.value,
                "variant": d.variant,
                "reason": str(d.reason.value) if hasattr(d.reason, "value") else d.reason,
                "error_code": d.error_code.value if d.error_code else None,
                "value_is_float": isinstance(d.value, float),
            }) + "\n")
