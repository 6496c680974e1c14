"""One Settings object for the whole platform.

Values come from environment variables prefixed ``AIGC_`` and, optionally, from a YAML file
named by ``AIGC_CONFIG``; the environment wins over the file, the file over the defaults.
Booleans take pydantic's spellings (``on``/``off``, ``yes``/``no``, ``true``/``false``,
``1``/``0``, any case). Everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

MIB = 1024 * 1024


class _YamlFile(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, strict about the file the operator named: a missing
    file is an error (not silently no settings), and so is one that holds no mapping."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        data = super()._read_file(file_path)
        if not isinstance(data, dict):
            raise ValueError(f"{file_path}: the settings file must hold a mapping")
        return data


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset or a container's
    cpuset), not every CPU of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_job_slots(cpus: int) -> int:
    """Three jobs at once on small machines: a long training (niced) and two short jobs beside
    it, which then have every core of a 2-CPU machine (measured in bench/first_start.py); one
    slot per four CPUs on bigger ones, as small models train fastest on a few threads each."""
    return max(3, cpus // 4)


def _yaml_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource | None:
    """The YAML file named by AIGC_CONFIG, if any (read when Settings is built, not imported)."""
    name = os.environ.get("AIGC_CONFIG")
    if not name:
        return None
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"AIGC_CONFIG names {name}, which is not a file")
    return _YamlFile(settings_cls, yaml_file=path)


# What a model's Ray actors may ask of the cluster (Ray's own ``ray_actor_options`` keys).
ACTOR_OPTIONS = frozenset(
    {"num_cpus", "num_gpus", "memory", "resources", "accelerator_type", "runtime_env"}
)


class DeploymentOptions(BaseModel):
    """How one model runs on Ray Serve (the fields of ``@serve.deployment`` we pass on),
    checked here so a typo is a clear error at start or at registration, not a Ray traceback
    later. ``num_replicas`` and ``autoscaling_config`` exclude each other."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int | None = Field(default=None, ge=1)
    autoscaling_config: dict[str, Any] | None = None
    ray_actor_options: dict[str, Any] = Field(default_factory=dict)
    # Requests one replica works on at once, and requests waiting for a replica (-1: no
    # bound); past it the gateway answers 503 + Retry-After.
    max_ongoing_requests: int = Field(default=16, ge=1)
    max_queued_requests: int = Field(default=64, ge=-1)

    @model_validator(mode="after")
    def _check(self) -> DeploymentOptions:
        if self.num_replicas is not None and self.autoscaling_config is not None:
            raise ValueError("set num_replicas or autoscaling_config, not both")
        unknown = set(self.ray_actor_options) - ACTOR_OPTIONS
        if unknown:
            raise ValueError(
                f"ray_actor_options takes {', '.join(sorted(ACTOR_OPTIONS))}; "
                f"not {', '.join(sorted(unknown))}"
            )
        for key in ("num_cpus", "num_gpus", "memory"):
            value = self.ray_actor_options.get(key)
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"ray_actor_options.{key} is a number >= 0")
        scaling = self.autoscaling_config or {}
        low, high = scaling.get("min_replicas", 1), scaling.get("max_replicas", 1)
        if not isinstance(low, int) or not isinstance(high, int) or not 0 <= low <= high:
            raise ValueError("autoscaling_config needs integers 0 <= min_replicas <= max_replicas")
        return self

    def merged(self, overrides: dict[str, Any]) -> DeploymentOptions:
        """These options with a model record's own ``deployment`` fields on top."""
        base = self.model_dump(exclude_unset=True)
        if "autoscaling_config" in overrides:
            base.pop("num_replicas", None)
        if "num_replicas" in overrides:
            base.pop("autoscaling_config", None)
        return DeploymentOptions.model_validate(base | overrides)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIGC_", extra="ignore")

    data_dir: Path = Field(default=Path("aigc-data"), description="Database, files, models")
    database_url: str | None = Field(default=None, description="Default: SQLite in data_dir")
    redis_url: str | None = Field(default=None, description="Shared limits across instances")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="Base URL printed for people")

    # Shared state of several instances (infra/storage.py, docs/storage.md): uploaded files,
    # document sources, trained models, checkpoints and generated images live in one blob
    # store. "directory": storage_dir (default data_dir itself, today's layout; on several
    # machines a shared volume such as NFS). "s3": an S3-compatible bucket.
    storage_backend: Literal["directory", "s3"] = "directory"
    storage_dir: Path | None = Field(
        default=None, description="Root of the directory backend; default: data_dir"
    )
    s3_endpoint_url: str | None = Field(default=None, description="Default: AWS's own")
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket, e.g. 'aigc/'")

    admin_key: SecretStr | None = Field(default=None, description="Platform-admin key at start")
    secret_key: SecretStr | None = Field(default=None, description="Default: data_dir/secret.key")

    default_models: bool = Field(default=True, description="Create/train default models")
    console: bool = Field(default=True, description="Serve the web console at /")
    job_stale_after_s: float = Field(
        default=60.0, gt=0, description="A running job without a heartbeat this long is re-run"
    )
    job_slots: int = Field(
        default_factory=lambda: default_job_slots(cpu_count()),
        ge=1,
        description="Jobs one process runs at once (default: a quarter of the CPUs, at least 3)",
    )
    job_threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads of each running job's torch work (default: CPUs / job_slots)",
    )
    max_body_bytes: int = 8 * MIB
    max_upload_bytes: int = 512 * MIB
    import_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    encryption_key: SecretStr | None = Field(
        default=None, description="Fernet key for secrets at rest; default: data_dir/fernet.key"
    )
    upstream_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="URL patterns tenant admins may use as upstreams"
    )
    family_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Modules of model families kept outside aigc (comma-separated), imported "
        "at start by the server and the CLI",
    )

    default_max_tokens: int = Field(default=512, description="When a request sets none")
    # Per-request input caps (400 invalid_request_error naming the parameter); the body itself
    # is capped by max_body_bytes (413).
    max_input_chars: int = Field(
        default=1_000_000, gt=0, description="Characters of all messages or prompts of a request"
    )
    max_messages: int = Field(default=1_000, gt=0, description="Messages of a chat request")
    max_prompts: int = Field(default=2_048, gt=0, description="Prompts in a /v1/completions list")
    # Images in chat messages (image_url parts): how many, their bytes (decoded from data URLs
    # or fetched) all together, and each one's pixels (read from the header, before decoding).
    max_images: int = Field(default=16, gt=0, description="Images in the messages of a request")
    max_image_bytes: int = Field(
        default=20 * MIB, gt=0, description="Bytes of all the images of a request together"
    )
    max_image_pixels: int = Field(
        default=4096 * 4096, gt=0, description="Pixels of one image (width × height)"
    )
    image_fetch_timeout_s: float = Field(
        default=10.0, gt=0, description="Fetching the images of a request given by URL, in all"
    )
    image_fetch_allow_networks: list[str] = Field(
        default_factory=list, description="CIDRs image URLs may reach despite being private"
    )
    # HTTP request head (request line + headers) limits at the server: 431 beyond them.
    max_header_bytes: int = Field(default=64 * 1024, gt=0, description="Request line + headers")
    max_header_count: int = Field(default=100, gt=0, description="Header fields of a request")
    default_key_rpm: int | None = None
    default_key_tpm: int | None = None

    kb_embedding_model_dir: Path | None = Field(
        default=None, description="sentence-transformers dir; default: bundled all-MiniLM-L6-v2"
    )
    # How the embedding model runs (knowledge/embed.py), exported once to data_dir/models/onnx:
    # "onnx-int8" quantized (the default: ~2x faster than torch, nDCG@10 within 0.004 of float
    # on bench/ingest.py --quality; a float index re-embeds once), "onnx" (float, the same
    # vectors as "torch"), "torch" (sentence-transformers itself).
    kb_embedding_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    kb_onnx_dir: Path | None = Field(
        default=None, description="Where ONNX exports are kept; default: data_dir/models/onnx"
    )
    kb_embedding_threads: int = Field(
        default=0, ge=0, description="ONNX Runtime threads for embedding; 0: one per core"
    )
    kb_reranker_dir: Path | None = Field(default=None, description="cross-encoder dir (optional)")
    kb_max_document_bytes: int = 100 * MIB
    kb_max_pages: int = 2000
    # PDFs are read in a child process under these bounds (knowledge/pdf.py); scanned pages by
    # Tesseract when it is installed (`make deps`), in these languages.
    kb_pdf_memory_mb: int = 2048
    kb_pdf_timeout_s: float = 900.0
    kb_pdf_max_image_pixels: int = 180_000_000
    kb_ocr: bool = True
    kb_ocr_languages: str = "eng+chi_sim"
    kb_ocr_page_timeout_s: float = 60.0
    kb_chunk_tokens: int = 200
    # Documents parsed ahead while the one before them is embedded (knowledge/ingest.py).
    kb_ingest_workers: int = Field(default=2, ge=1, le=32)
    kb_chunk_overlap_tokens: int = 40
    kb_fetch_max_bytes: int = 20 * MIB
    kb_fetch_timeout_s: float = 20.0
    kb_fetch_allow_networks: list[str] = Field(
        default_factory=list, description="CIDRs URL ingestion may reach despite being private"
    )

    # SSO: how far an ID token's times (exp, iat, nbf) may be off this server's clock.
    sso_clock_skew_s: int = Field(
        default=60, ge=0, le=300, description="Clock skew allowed on ID tokens (at most 300)"
    )

    # Models on Ray Serve (docs/models.md, "Serving on Ray"): with an address, local text
    # models run as one Serve application each on that cluster; without, in this process.
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster to serve text models on: host:port of `ray start --head`, "
        "ray://host:10001, or 'auto' (RAY_ADDRESS, else the cluster on this machine)",
    )
    ray_namespace: str = Field(default="aigc", min_length=1, description="Ray namespace")
    # Deployment options keyed by model id ("*": every model); a model record's own
    # ``deployment`` object (`aigc models add ... --deployment '{...}'`) wins over both.
    ray_deployments: dict[str, DeploymentOptions] = Field(default_factory=dict)

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p for p in value.split(":") if p]
        return value

    @field_validator("upstream_allowlist", "family_modules", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _yaml_source(settings_cls)
        files = (yaml_file,) if yaml_file is not None else ()
        return (init_settings, env_settings, *files, file_secret_settings)

    def deployment_options(
        self, model: str, own: dict[str, Any] | None = None
    ) -> DeploymentOptions:
        """The Ray Serve options of one model: the defaults, then ``ray_deployments["*"]``, then
        ``ray_deployments[model]``, then the record's own ``deployment``."""
        options = self.ray_deployments.get("*", DeploymentOptions())
        named = self.ray_deployments.get(model)
        if named is not None:
            options = options.merged(named.model_dump(exclude_unset=True))
        return options.merged(own or {})

    @property
    def job_cpu_threads(self) -> int:
        """Torch threads per running job: ``job_threads``, else the CPUs shared by the slots."""
        return self.job_threads or max(1, cpu_count() // self.job_slots)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'aigc.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def server_secret(self) -> bytes:
        """The HMAC secret for the audit chain and signed links; created once, kept 0600."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip().encode()
