#!/usr/bin/env python3
"""Independent Python implementation of Abacus assignment; writes the test vectors.

It reads examples/experiments.toml with the standard library (tomllib, Python >= 3.11) and
hashes with the `mmh3` package from PyPI (MurmurHash3 x86_32, generated with mmh3 5.3.1), so
the Rust crate is checked against code it shares nothing with. Layer slices, variant ranges
and flag allocations are re-implemented here from assign/README.md.

Usage (from the repository root):
    python3 -m venv ~/.cache/abacus/venv-assign
    ~/.cache/abacus/venv-assign/bin/pip install mmh3==5.3.1
    ~/.cache/abacus/venv-assign/bin/python assign/scripts/vectors.py

It rewrites assign/tests/vectors.tsv and assign/tests/flag_vectors.tsv.
"""

import pathlib
import tomllib

import mmh3

BUCKETS = 10_000
SEED_NAMESPACE, SEED_VARIANT, SEED_FLAG, SEED_SWITCHBACK = 0, 1, 2, 3
SWITCHBACK_WINDOWS = [0, 1, 2, 23, 335, 100000]
ROOT = pathlib.Path(__file__).resolve().parents[2]


def hash32(seed, *parts):
    """MurmurHash3 x86_32 of the parts joined with ':' (UTF-8), unsigned."""
    return mmh3.hash(":".join(parts).encode("utf-8"), seed, signed=False)


def to_bucket(h):
    """floor(h * 10000 / 2^32)."""
    return (h * BUCKETS) >> 32


def weight_ranges(weights):
    """Contiguous [start, end) ranges of 0..10000 proportional to the weights, in order."""
    total, cumulative, start, out = sum(weights), 0, 0, []
    for w in weights:
        cumulative += w
        end = cumulative * BUCKETS // total
        out.append((start, end))
        start = end
    return out


def resolve(experiments):
    """Namespace, slice and variant ranges of each experiment (README: "Layer slices")."""
    cursor = {}
    out = []
    for e in experiments:
        namespace = e.get("namespace") or e.get("layer") or e["id"]
        width = int(round(e.get("traffic", 1.0) * BUCKETS))
        layer = e.get("layer")
        if layer is None:
            start = 0
        else:
            start = e.get("layer_start", cursor.get(layer, 0))
            cursor[layer] = start + width
        variants = [v["name"] for v in e["variant"]]
        ranges = weight_ranges([v["weight"] for v in e["variant"]])
        out.append((e, namespace, (start, start + width), list(zip(variants, ranges))))
    return out


def users():
    plain = [f"user-{i}" for i in range(200)]
    special = [
        "",
        "0",
        "42",
        "a:b",
        "checkout",
        "alice@example.com",
        "user with spaces",
        "ユーザー",
        "Ünïcödé-✓",
        "x" * 100,
        "550e8400-e29b-41d4-a716-446655440000",
    ]
    return plain + special


def unit_values(unit):
    """Values of a unit attribute (company ids, cities) hashed instead of user ids."""
    return [f"{unit}-{i}" for i in range(60)] + ["", "42", "a:b", "Zürich", "x" * 100]


def experiment_rows(definitions):
    """One row per experiment and key (user id, or unit value for experiments with a `unit`);
    switchback experiments get one row per unit value and window (column `window`)."""
    rows = []
    for e, namespace, (start, end), variants in resolve(definitions["experiment"]):
        exp_id = e["id"]
        unit = e.get("unit")
        keys = unit_values(unit) if unit else users()
        switchback = e.get("design") == "switchback"
        for key in keys:
            nh = hash32(SEED_NAMESPACE, namespace, key)
            nb = to_bucket(nh)
            for window in SWITCHBACK_WINDOWS if switchback else [None]:
                if switchback:
                    vh = hash32(SEED_SWITCHBACK, namespace, str(window), key)
                else:
                    vh = hash32(SEED_VARIANT, exp_id, key)
                vb = to_bucket(vh)
                variant = "excluded"
                if start <= nb < end:
                    variant = next(name for name, (s, e) in variants if s <= vb < e)
                rows.append([exp_id, namespace, key, nh, nb, vh, vb, variant,
                             "" if window is None else window])
    return rows


def flag_rows(definitions):
    """Allocation of the rollout (rule '') and of every rule, whatever the conditions say."""
    rows = []
    for flag in definitions.get("flag", []):
        allocations = [("", flag.get("rollout", []))]
        allocations += [(r["name"], r["allocation"]) for r in flag.get("rule", [])]
        for rule, allocation in allocations:
            if not allocation:
                continue
            ranges = weight_ranges([a["weight"] for a in allocation])
            for user in users():
                parts = [flag["name"], rule, user] if rule else [flag["name"], user]
                h = hash32(SEED_FLAG, *parts)
                b = to_bucket(h)
                variant = next(a["variant"] for a, (s, e) in zip(allocation, ranges) if s <= b < e)
                rows.append([flag["name"], rule, user, h, b, variant])
    return rows


def write(path, header, comment, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(comment)
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(str(x) for x in row) + "\n")


def main():
    with open(ROOT / "examples" / "experiments.toml", "rb") as f:
        definitions = tomllib.load(f)
    note = (
        "# Generated by assign/scripts/vectors.py (Python, mmh3 5.3.1) from examples/experiments.toml.\n"
        "# Hashes are MurmurHash3 x86_32 (unsigned); buckets are floor(hash * 10000 / 2^32).\n"
    )
    write(
        ROOT / "assign" / "tests" / "vectors.tsv",
        ["experiment", "namespace", "user_id", "namespace_hash", "namespace_bucket",
         "variant_hash", "variant_bucket", "variant", "window"],
        note + "# namespace_hash = hash(seed 0, \"namespace:user_id\"); variant_hash = hash(seed 1, \"experiment:user_id\").\n"
        + "# Experiments with a unit hash the unit's value (a company id, a city) in place of the user id.\n"
        + "# Switchback rows (window set): variant_hash = hash(seed 3, \"namespace:window:unit_value\").\n",
        experiment_rows(definitions),
    )
    write(
        ROOT / "assign" / "tests" / "flag_vectors.tsv",
        ["flag", "rule", "user_id", "hash", "bucket", "variant"],
        note + "# hash = hash(seed 2, \"flag:rule:user_id\"), or \"flag:user_id\" for the rollout (empty rule).\n",
        flag_rows(definitions),
    )


if __name__ == "__main__":
    main()
