"""`schema`: JSON, YAML (safe loading) and TOML files parse; files with a JSON Schema (named by a
`$schema` key that is a path in the project, or by the project's settings) validate against it."""
from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import tomllib

import jsonschema
import yaml

from app.projects.validators import register
from app.projects.validators.base import Finding, Validator

KINDS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
_TOML_LINE = re.compile(r"line (\d+)")
MAX_SCHEMA_FINDINGS_PER_FILE = 20


def _kind(path: str) -> str | None:
    return KINDS.get(posixpath.splitext(path)[1].lower())


def parse(kind: str, text: str):
    """Parse `text` as `kind`; raises ValueError(message, line)."""
    try:
        if kind == "json":
            return json.loads(text)
        if kind == "yaml":
            return yaml.safe_load(text)
        return tomllib.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(error.msg, error.lineno) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(str(problem), mark.line + 1 if mark else None) from None
    except tomllib.TOMLDecodeError as error:
        match = _TOML_LINE.search(str(error))
        raise ValueError(str(error), int(match.group(1)) if match else None) from None
    except RecursionError:
        raise ValueError("nested too deeply", None) from None


def line_of(kind: str, text: str, path: list) -> int | None:
    """The line where the value at `path` (keys and indexes) starts, for JSON and YAML (by composing
    the document into nodes, which keep their marks)."""
    if kind == "toml":
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            node = None
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None


@register
class SchemaValidator(Validator):
    name = "schema"
    label = "Schema"
    description = "JSON, YAML and TOML files parse; files with a JSON Schema match it."

    def check(self, project, tick):
        findings: list[Finding] = []
        files = project.by_path()
        mapping = project.settings.get("json_schemas") or {}
        schemas: dict[str, object] = {}
        for ref in project.files:
            kind = _kind(ref.path)
            if kind is None:
                tick()
                continue
            text = project.read(ref).decode("utf-8", errors="replace")
            try:
                data = parse(kind, text)
            except ValueError as error:
                message, line = error.args
                findings.append(Finding("error", "syntax", f"{kind}-invalid",
                                        f"{kind.upper()} does not parse: {message}", ref.path, line))
                tick()
                continue
            schema_path = None
            if isinstance(data, dict) and isinstance(data.get("$schema"), str):
                candidate = posixpath.normpath(posixpath.join(posixpath.dirname(ref.path), data["$schema"]))
                schema_path = candidate if candidate in files else None
            for pattern, target in mapping.items():
                if schema_path is None and fnmatch.fnmatch(ref.path, pattern) and target != ref.path:
                    schema_path = target
            if schema_path:
                findings.extend(self._validate(project, files, schemas, ref, kind, text, data, schema_path))
            tick()
        return findings

    def _validate(self, project, files, schemas, ref, kind, text, data, schema_path):
        if schema_path not in schemas:
            schema_ref = files.get(schema_path)
            schema = None
            if schema_ref is not None:
                try:
                    schema = json.loads(project.read(schema_ref))
                    jsonschema.validators.validator_for(schema).check_schema(schema)
                except (ValueError, jsonschema.SchemaError, RecursionError):
                    schema = None
            schemas[schema_path] = schema
        schema = schemas[schema_path]
        if schema is None:
            return [Finding("warning", "schema", "schema-unusable",
                            f"The schema {schema_path} is missing or is not a valid JSON Schema.", ref.path)]
        if isinstance(data, dict) and isinstance(schema, dict) and "$schema" in data:
            data = {key: value for key, value in data.items() if key != "$schema"}
        validator_class = jsonschema.validators.validator_for(schema)
        findings = []
        try:
            errors = sorted(validator_class(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        except (RecursionError, jsonschema.exceptions.RefResolutionError, Exception):  # a hostile schema
            return [Finding("warning", "schema", "schema-unusable", f"The schema {schema_path} could not be applied.",
                            ref.path)]
        for error in errors[:MAX_SCHEMA_FINDINGS_PER_FILE]:
            where = "/".join(map(str, error.absolute_path)) or "(top)"
            findings.append(Finding("error", "schema", "schema-mismatch",
                                    f"{where}: {error.message[:300]} (schema {schema_path})",
                                    ref.path, line_of(kind, text, list(error.absolute_path))))
        return findings
