"""Extract the InferenceService field map from the KServe Python SDK wheel.

The SDK's models (``kserve/models/v1beta1_*.py``) are generated from KServe's OpenAPI
definitions; each class lists its fields in ``attribute_map`` (Python name -> JSON key) and
``openapi_types`` (Python name -> type). This reads them from the wheel without importing
it and writes every class reachable from ``V1beta1InferenceService`` as JSON::

    pip download --no-deps kserve==0.21.0 -d /tmp/kserve
    python deploy/kubernetes/kserve-schema/extract.py /tmp/kserve/kserve-0.21.0-py3-none-any.whl

Types outside the SDK (``V1Container``, ``V1ResourceRequirements``...) are Kubernetes core
types; the tests check those parts against the Kubernetes schemas instead.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT_CLASS = "V1beta1InferenceService"
_REQUIRED = re.compile(r"client_side_validation and (\w+) is None")


def _class_fields(source: str) -> dict[str, dict[str, object]]:
    """Every class in ``source``: its JSON keys, their types and the required ones."""
    out: dict[str, dict[str, object]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        tables: dict[str, dict[str, str]] = {}
        for item in node.body:
            if (
                isinstance(item, ast.Assign)
                and isinstance(item.targets[0], ast.Name)
                and item.targets[0].id in ("openapi_types", "attribute_map")
            ):
                tables[item.targets[0].id] = ast.literal_eval(item.value)
        if "attribute_map" not in tables:
            continue
        keys, types = tables["attribute_map"], tables["openapi_types"]
        required = sorted({keys[m] for m in _REQUIRED.findall(source) if m in keys})
        out[node.name] = {
            "fields": {keys[name]: types[name] for name in sorted(keys)},
            "required": required,
        }
    return out


def _referenced(type_name: str) -> list[str]:
    """Class names inside a type such as ``list[V1beta1X]`` or ``dict(str, V1beta1Y)``."""
    return re.findall(r"V1beta1\w+|V1alpha1\w+", type_name)


def extract(wheel: Path) -> dict[str, object]:
    """The field map of every SDK class reachable from the InferenceService."""
    classes: dict[str, dict[str, object]] = {}
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        version = re.search(r"^Version: (\S+)", zf.read(metadata).decode(), re.M).group(1)  # type: ignore[union-attr]
        for name in zf.namelist():
            if name.startswith("kserve/models/") and name.endswith(".py"):
                classes.update(_class_fields(zf.read(name).decode()))
    reachable: dict[str, dict[str, object]] = {}
    todo = [ROOT_CLASS]
    while todo:
        name = todo.pop()
        if name in reachable or name not in classes:
            continue
        reachable[name] = classes[name]
        for type_name in classes[name]["fields"].values():  # type: ignore[union-attr]
            todo.extend(_referenced(type_name))
    return {
        "source": f"PyPI kserve=={version}, kserve/models/*.py (attribute_map, openapi_types)",
        "licence": "Apache-2.0, Copyright The KServe Authors (see LICENSE beside this file)",
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "kserve_version": version,
        "root": ROOT_CLASS,
        "classes": dict(sorted(reachable.items())),
    }


def main(argv: list[str]) -> int:
    data = extract(Path(argv[1]))
    out = HERE / f"inferenceservice-fields-v{data['kserve_version']}.json"
    out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {out} ({len(data['classes'])} classes)")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
