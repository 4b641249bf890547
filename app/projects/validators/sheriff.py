"""`sheriff`: policy checks. Secrets committed (detect-secrets' plugins, used as a library), Python
that does not compile, files larger than the project allows, and the project's forbidden text."""
from __future__ import annotations

import warnings

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

from app.projects.validators import register
from app.projects.validators.base import Finding, Validator

# Entropy scanners flag every hash and UUID; the IP scanner every example address.
NOISY_PLUGINS = {"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}
WARNING_PLUGINS = {"KeywordDetector"}  # `password = …` is often a placeholder
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
MAX_LINE_CHARS = 4_000  # longer lines (minified files) are not scanned for secrets
MAX_FINDINGS_PER_FILE = 20


def _plugins():
    return [cls() for cls in get_mapping_from_secret_type_to_class().values() if cls.__name__ not in NOISY_PLUGINS]


def secrets_in(path: str, text: str, plugins) -> list[Finding]:
    """A finding per line where a plugin sees a secret; the secret itself is never repeated."""
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS or not line.strip():
            continue
        for plugin in plugins:
            try:
                found = plugin.analyze_line(filename=path, line=line, line_number=number)
            except Exception:  # a plugin's regex on odd input must not end the run
                continue
            for secret in found:
                severity = "warning" if type(plugin).__name__ in WARNING_PLUGINS else "error"
                findings.append(Finding(severity, "secret", "secret-" + type(plugin).__name__.lower()[:40],
                                        f"{secret.type} committed in the file (value hidden).", path, number))
                break
        if len(findings) >= MAX_FINDINGS_PER_FILE:
            break
    return findings


def python_syntax(path: str, text: str) -> Finding | None:
    """A finding if the Python source does not compile (compiled only, never run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        return Finding("error", "syntax", "python-syntax", f"Python syntax error: {error.msg}", path, error.lineno)
    except (ValueError, RecursionError, MemoryError) as error:
        return Finding("error", "syntax", "python-syntax", f"Python source cannot be compiled: {type(error).__name__}",
                       path)
    return None


@register
class SheriffValidator(Validator):
    name = "sheriff"
    label = "Sheriff"
    description = "No secrets committed, Python compiles, no oversized files, none of the project's forbidden text."

    def check(self, project, tick):
        plugins = _plugins()
        limit = int(project.settings.get("max_file_bytes") or DEFAULT_MAX_FILE_BYTES)
        forbidden = [text for text in project.settings.get("forbidden_patterns") or [] if text]
        findings: list[Finding] = []
        for ref in project.files:
            if ref.size_bytes > limit:
                findings.append(Finding("warning", "size", "file-too-large",
                                        f"{ref.size_bytes:,} bytes, more than the {limit:,} this project allows.",
                                        ref.path))
            data = project.read(ref)
            if b"\x00" in data[:8192]:
                tick()
                continue  # binary
            text = data.decode("utf-8", errors="replace")
            findings.extend(secrets_in(ref.path, text, plugins))
            if ref.path.endswith(".py"):
                problem = python_syntax(ref.path, text)
                if problem:
                    findings.append(problem)
            for pattern in forbidden:
                index = text.find(pattern)
                if index >= 0:
                    findings.append(Finding("error", "policy", "forbidden-pattern",
                                            f"Contains forbidden text “{pattern[:80]}”.", ref.path,
                                            text.count("\n", 0, index) + 1))
            tick()
        return findings
