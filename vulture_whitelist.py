"""Names vulture reports as unused that something outside Python's own calls reads (checked by `.ci/run`).

Each group says who uses them. Add a name here only with such a reason; dead code is deleted instead.
This file is never imported: vulture only reads the names.
"""
# ruff: noqa: B018, F821

# SQLAlchemy reads these: declarative configuration and table columns that the schema, the
# migrations and the exports use by table column name (pandas/SQL), not by attribute.
type_annotation_map
text_hash
understandability
relevance
conciseness
clinical_utility
rating_id
edited_at
error_rating  # relationship(back_populates=...) in db/protocol_models.py

# Alembic reads the revision graph from these module variables in db/migrations/versions/.
down_revision
branch_labels
depends_on

# The system registry (generation/registry.py) resolves "module:function" strings to these factories.
constant
retrieval
hf_system
openai_system
default_system
base_system
checkpoint_system
fake_system  # tests/test_demo_service.py registers it by name
echo_system  # tests/test_evaluate.py registers it by name

# Routes registered by decorator (FastAPI calls them).
_to_rating
download_links

# Attributes set on library objects, read by the library: Gradio's session-state cap, the sqlite3
# driver's transaction mode, tokenizers' padding side and pipeline parts, zipfile's compression,
# http.server's request handlers and logging hook.
state_session_capacity
isolation_level
padding_side
pre_tokenizer
decoder
compress_type
do_GET
do_POST
log_message

# pytest reads these by name: module marks and autouse fixtures, fixtures requested as arguments.
pytestmark
_single_thread
one_torch_thread
pytest_runtest_setup
pytest_runtest_teardown

# AnalysisResult's named accessors, one per table (rating/analysis/summary.py): API for scripts and notebooks.
icc
metric_validity

# Documentation and serialisation: KINDS names the values of ImpressionGenerator.kind; the
# simulation result is written out with dataclasses.asdict (rating/simulate.py).
KINDS
boosted_system
