"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by test_fuzz.py): half of the generated
`id`/`name` path parameters become a real finished session and its artifacts, so the fuzzer reaches
the answers of real sessions (reports, SSE streams, Range requests, 409s), not only 404s. DELETE keeps
its random ids: it would remove the session the other operations need."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

# tus chunks: raw bytes (Schemathesis has no serializer of its own for this media type).
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=2048))

SESSION = os.environ.get("VIDPULSE_FUZZ_SESSION", "")
FILES = [name for name in os.environ.get("VIDPULSE_FUZZ_FILES", "").split(",") if name]


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    operation = context.operation
    deleting = operation is not None and operation.method.upper() == "DELETE"
    if not SESSION or not path_parameters or "id" not in path_parameters or deleting:
        return st.just(path_parameters)
    real = {**path_parameters, "id": SESSION}
    if "name" in path_parameters and FILES:
        return st.sampled_from([path_parameters, real, *({**real, "name": name} for name in FILES)])
    return st.sampled_from([path_parameters, real])


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    # Links (e.g. listSessions' ids) can hand DELETE the real session: keep it for the others.
    if case.method.upper() == "DELETE" and (case.path_parameters or {}).get("id") == SESSION:
        case.path_parameters = {**case.path_parameters, "id": "s_" + "0" * 32}
    return case


@schemathesis.hook
def filter_headers(context: Any, headers: dict[str, Any] | None) -> bool:
    # Schemathesis counts an undeclared extra header as schema-violating and wants it refused; HTTP allows
    # any header, so a tus POST with one is rightly accepted (a false positive of negative_data_rejection).
    return "x-schemathesis-unknown-property" not in (headers or {})
