"""Console: the Training page (start a job, follow it live, cancel it, chat with the result).

Everything goes through the API as the signed-in member: ``POST /v1/files`` (purpose
"training") for data uploaded here, ``POST /api/train`` (which checks every parameter),
``GET /api/jobs`` for the list and ``GET /api/jobs/{id}`` for the live view: progress, the
loss curve and samples a neural job publishes in its ``result.metrics`` while it runs
(``models/text/live.py``), and ``POST /api/jobs/{id}/cancel``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import events, ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.job_lines import coded_line
from aigc.console.session import ConsoleUser, gate, services
from aigc.console.uploads import labelled_upload
from aigc.models import progress_lines

ACTIVE = ("queued", "running")
POLL_S = 1.0
RECENT = 20  # jobs listed (newest first)


@dataclass(frozen=True)
class Param:
    """One hyperparameter field, read from a family's parameter schema (``GET /api/families``):
    ``kind`` int, float, bool or choice; ``default`` None leaves the field empty (the API's
    default applies); ``advanced`` fields are folded away."""

    key: str
    kind: str
    default: Any
    title: str
    choices: tuple[Any, ...] = ()
    advanced: bool = False


def schema_params(schema: dict[str, Any] | None) -> list[Param]:
    """The fields of one family's JSON schema, in its order."""
    params = []
    for key, prop in ((schema or {}).get("properties") or {}).items():
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        first = options[0] if options else prop
        kind: str | None
        if "enum" in first:
            kind, choices = "choice", tuple(first["enum"])
        else:
            kind = {"integer": "int", "number": "float", "boolean": "bool"}.get(first.get("type"))
            choices = ()
            if kind is None:
                continue  # lists or objects: not a form field
        default = prop.get("default")
        title = str(prop.get("title") or key)
        params.append(Param(key, kind, default, title, choices, bool(prop.get("advanced"))))
    return params


# The job runner records a failure as "ValueError: why" (type and message, never a trace):
# the type is Python's word for the kind of fault, of no use to the person who trains.
_EXCEPTION_TYPE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt):\s+(?=\S)")


def failure_text(tr: i18n.Translator, error: str) -> str:
    """A failed job's reason as the page shows it: a lead-in in the page's language and the
    runner's reason without the Python exception's name."""
    return tr("training.failed", reason=_EXCEPTION_TYPE.sub("", error.strip(), count=1))


# A job's progress line by its code (aigc.models.progress_lines), with its values as shown.
_LINES = {
    "en": {
        "training.line.reading_data": "Reading the data",
        "training.line.learning_tokenizer": "Learning the tokenizer",
        "training.line.counting_ngrams": "Counting n-grams",
        "training.line.validating": "Validating",
        "training.line.train_step": "Iteration {iteration}/{max_iters}, loss {loss}{val}, "
        "{tokens_per_s} tokens/s, about {eta} left",
        "training.line.val": ", validation loss {val_loss}",
        "training.line.image_step": "Step {step}/{steps}: {detail} ({seconds} s)",
        "training.line.done_val_loss": "Done: validation loss {val_loss}",
        "training.line.done_perplexity": "Done: validation perplexity {perplexity}",
        "training.duration.hours": "{hours} h {minutes} min",
        "training.duration.minutes": "{minutes} min {seconds} s",
    },
    "zh-CN": {
        "training.line.reading_data": "正在读取数据",
        "training.line.learning_tokenizer": "正在学习分词器",
        "training.line.counting_ngrams": "正在统计 n 元语法",
        "training.line.validating": "正在验证",
        "training.line.train_step": "第 {iteration}/{max_iters} 轮，损失 {loss}{val}，"
        "每秒 {tokens_per_s} 个词元，预计还需 {eta}",
        "training.line.val": "，验证损失 {val_loss}",
        "training.line.image_step": "第 {step}/{steps} 步：{detail}（{seconds} 秒）",
        "training.line.done_val_loss": "完成：验证损失 {val_loss}",
        "training.line.done_perplexity": "完成：验证困惑度 {perplexity}",
        "training.duration.hours": "{hours} 小时 {minutes} 分",
        "training.duration.minutes": "{minutes} 分 {seconds} 秒",
    },
}
i18n.add(_LINES)


def _duration(tr: i18n.Translator, seconds: float) -> str:
    whole = int(seconds)
    if whole >= 3600:
        return tr("training.duration.hours", hours=whole // 3600, minutes=whole % 3600 // 60)
    return tr("training.duration.minutes", minutes=whole // 60, seconds=whole % 60)


def _decimals(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "—"


def _shown(tr: i18n.Translator, code: str, values: dict[str, Any]) -> dict[str, Any]:
    """A line's values as the page writes them: losses to four places, a rate with
    separators, the time left in the page's words."""
    shown = dict(values)
    if code == progress_lines.TRAIN_STEP:
        val = values.get("val_loss")
        shown["loss"] = _decimals(values["loss"])
        shown["val"] = tr("training.line.val", val_loss=_decimals(val)) if val is not None else ""
        shown["tokens_per_s"] = f"{float(values['tokens_per_s']):,.0f}"
        shown["eta"] = _duration(tr, float(values["eta_s"]))
    elif code == progress_lines.DONE_VAL_LOSS:
        shown["val_loss"] = _decimals(values["val_loss"])
    elif code == progress_lines.DONE_PERPLEXITY and values.get("perplexity") is None:
        shown["perplexity"] = "—"
    return shown


def progress_line(tr: i18n.Translator, job: dict[str, Any]) -> str:
    """The job's progress line: in the page's language where the job named it
    (``message_code``), else (and on English pages) as the API wrote it."""
    return coded_line(tr, job, "training.line", progress_lines.CODES, _shown)


i18n.add(
    {
        "en": {
            "training.failed": "Training failed: {reason}",
            "training.new": "New training job",
            "training.family": "Model family",
            "training.name": "Model id",
            "training.files": "Training files",
            "training.upload": "Upload a text file (.txt, .md, .jsonl, .json)",
            "training.uploaded": "Uploaded {name}.",
            "training.params": "Hyperparameters",
            "training.params.more": "More parameters",
            "training.start": "Start training",
            "training.started": "Training {name} started.",
            "training.jobs": "Training jobs",
            "training.open": "Open",
            "training.col.model": "Model",
            "training.col.kind": "Kind",
            "training.col.status": "Status",
            "training.col.progress": "Progress",
            "training.col.created": "Created",
            "training.pick": "Open a job to follow its progress.",
            "training.job": "Job {id}",
            "training.cancel": "Cancel job",
            "training.cancelling": "Cancel requested.",
            "training.chat": "Chat with {name}",
            "training.curve.train": "training loss",
            "training.curve.val": "validation loss",
            "training.curve.iteration": "iteration",
            "training.curve.loss": "loss",
            "training.curve.points": "{n} points · last loss {loss}",
            "training.curve.empty": "No loss points yet.",
            "training.samples": "Samples",
            "training.samples.none": "Samples appear at each evaluation.",
            "training.sample_at": "iteration {n}",
            "training.status.queued": "queued",
            "training.status.running": "running",
            "training.status.succeeded": "succeeded",
            "training.status.failed": "failed",
            "training.status.cancelled": "cancelled",
            "training.param.tokenizer": "Tokenizer",
            "training.param.order": "N-gram order",
            "training.param.cell": "Cell",
            "training.param.max_iters": "Iterations",
            "training.param.batch_size": "Batch size",
            "training.param.block_size": "Context length (tokens)",
            "training.param.n_layer": "Layers",
            "training.param.n_head": "Attention heads",
            "training.param.n_embd": "Embedding size",
            "training.param.n_hidden": "Hidden size",
            "training.param.learning_rate": "Learning rate",
            "training.param.eval_interval": "Evaluate every (iterations)",
            "training.param.vocab_size": "Vocabulary size (BPE; empty: default)",
            "training.param.val_fraction": "Validation share of the data",
            "training.param.seed": "Random seed",
            "training.param.dropout": "Dropout",
            "training.param.min_lr": "Minimum learning rate",
            "training.param.warmup_iters": "Warm-up iterations",
            "training.param.lr_decay_iters": "Learning-rate decay iterations",
            "training.param.weight_decay": "Weight decay",
            "training.param.beta1": "Adam beta1",
            "training.param.beta2": "Adam beta2",
            "training.param.grad_clip": "Gradient clipping",
            "training.param.eval_tokens": "Tokens per evaluation",
            "training.param.checkpoint_interval": "Checkpoint every (iterations)",
            "training.param.device": "Device",
            "training.param.discount_fallback": "Discount fallback for small data",
            "training.param.lowercase": "Lowercase the text",
        },
        "zh-CN": {
            "training.failed": "训练失败：{reason}",
            "training.new": "新建训练任务",
            "training.family": "模型类别",
            "training.name": "模型 ID",
            "training.files": "训练文件",
            "training.upload": "上传文本文件（.txt、.md、.jsonl、.json）",
            "training.uploaded": "已上传 {name}。",
            "training.params": "超参数",
            "training.params.more": "更多参数",
            "training.start": "开始训练",
            "training.started": "已开始训练 {name}。",
            "training.jobs": "训练任务",
            "training.open": "打开",
            "training.col.model": "模型",
            "training.col.kind": "类型",
            "training.col.status": "状态",
            "training.col.progress": "进度",
            "training.col.created": "创建时间",
            "training.pick": "打开一个任务以查看进度。",
            "training.job": "任务 {id}",
            "training.cancel": "取消任务",
            "training.cancelling": "已请求取消。",
            "training.chat": "与 {name} 对话",
            "training.curve.train": "训练损失",
            "training.curve.val": "验证损失",
            "training.curve.iteration": "迭代",
            "training.curve.loss": "损失",
            "training.curve.points": "{n} 个点 · 最新损失 {loss}",
            "training.curve.empty": "尚无损失数据。",
            "training.samples": "样例输出",
            "training.samples.none": "每次评估时生成样例。",
            "training.sample_at": "第 {n} 次迭代",
            "training.status.queued": "排队中",
            "training.status.running": "运行中",
            "training.status.succeeded": "已完成",
            "training.status.failed": "失败",
            "training.status.cancelled": "已取消",
            "training.param.tokenizer": "分词器",
            "training.param.order": "N 元阶数",
            "training.param.cell": "循环单元",
            "training.param.max_iters": "迭代次数",
            "training.param.batch_size": "批大小",
            "training.param.block_size": "上下文长度（词元）",
            "training.param.n_layer": "层数",
            "training.param.n_head": "注意力头数",
            "training.param.n_embd": "嵌入维度",
            "training.param.n_hidden": "隐藏层维度",
            "training.param.learning_rate": "学习率",
            "training.param.eval_interval": "评估间隔（迭代）",
            "training.param.vocab_size": "词表大小（BPE，留空为默认值）",
            "training.param.val_fraction": "验证集比例",
            "training.param.seed": "随机种子",
            "training.param.dropout": "Dropout 比例",
            "training.param.min_lr": "最小学习率",
            "training.param.warmup_iters": "预热迭代次数",
            "training.param.lr_decay_iters": "学习率衰减迭代次数",
            "training.param.weight_decay": "权重衰减",
            "training.param.beta1": "Adam beta1 参数",
            "training.param.beta2": "Adam beta2 参数",
            "training.param.grad_clip": "梯度裁剪",
            "training.param.eval_tokens": "每次评估的词元数",
            "training.param.checkpoint_interval": "检查点间隔（迭代）",
            "training.param.device": "设备",
            "training.param.discount_fallback": "数据较少时使用折扣回退",
            "training.param.lowercase": "文本转为小写",
        },
    }
)

_OPEN_SLOT = r"""
<q-td :props="props">
  <q-btn flat dense size="sm" color="primary" icon="visibility" :label="props.row.open_label"
         :data-testid="'open-' + props.row.id" @click="() => $parent.$emit('open', props.row)" />
</q-td>
"""


def param_values(params: list[Param], fields: dict[str, Any]) -> dict[str, Any]:
    """The form's values for a family's ``params``, typed; an emptied field is left to the API."""
    values: dict[str, Any] = {}
    for param in params:
        value = fields[param.key].value
        if value in (None, ""):
            continue
        if param.kind == "int":
            value = int(value)
        elif param.kind == "float":
            value = float(value)
        values[param.key] = value
    return values


def job_row(user: ConsoleUser, job: dict[str, Any]) -> dict[str, Any]:
    created = job.get("created_at")
    return {
        "id": job["id"],
        "model": job.get("model") or "—",
        "kind": job["kind"].removeprefix("train-"),
        "status": user.tr(f"training.status.{job['status']}"),
        "progress": f"{round(100 * (job.get('progress') or 0))}%",
        "created": datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S") if created else "",
        "open_label": user.tr("training.open"),
    }


def chart_options(user: ConsoleUser) -> dict[str, Any]:
    tr = user.tr
    return {
        "animation": False,
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 40},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": [tr("training.curve.train"), tr("training.curve.val")]},
        "xAxis": {"type": "value", "name": tr("training.curve.iteration"), "min": 0},
        "yAxis": {"type": "value", "name": tr("training.curve.loss"), "scale": True},
        "series": [
            {"name": tr("training.curve.train"), "type": "line", "showSymbol": False, "data": []},
            {"name": tr("training.curve.val"), "type": "line", "data": []},
        ],
    }


class JobView:
    """The live view of one job: progress bar, loss curve, samples, cancel and chat."""

    def __init__(self, user: ConsoleUser, on_change: Any) -> None:
        tr = self.tr = user.tr
        self.user = user
        self.on_change = on_change
        self.job_id: str | None = None
        self.status = ""
        with (
            ui.card()
            .classes("w-full")
            .style("scroll-margin-top: 72px")  # clear of the fixed header
            .props('data-testid="job-detail"') as self.card
        ):
            self.hint = ui.label(tr("training.pick")).classes("text-grey-8")
            with ui.column().classes("w-full gap-2") as self.body:
                with ui.row().classes("items-center gap-4 w-full"):
                    self.title = (
                        ui.label("")
                        .classes("text-lg font-medium")
                        .props('role="heading" aria-level=2 data-testid="job-title"')
                    )
                    self.badge = ui.badge("").props('data-testid="job-status"')
                    ui.space()
                    self.chat = ui.link("", "/chat").props('data-testid="job-chat"')
                    self.cancel = ui.button(
                        tr("training.cancel"), icon="stop", on_click=self._cancel
                    ).props('color=negative outline data-testid="job-cancel"')
                with ui.row().classes("items-center gap-3 w-full no-wrap"):
                    self.bar = ui.linear_progress(0, show_value=False, size="14px").classes(
                        "flex-grow"
                    )
                    self.bar.props(f'aria-label="{tr("training.col.progress")}"')
                    self.percent = (
                        ui.label("0%")
                        .classes("w-12 text-right")
                        .props('data-testid="job-percent" aria-live="polite"')
                    )
                self.message = (
                    ui.label("")
                    .classes("text-sm font-mono text-grey-8 h-5")
                    .props('data-testid="job-message"')
                )
                self.error = (
                    ui.label("")
                    .classes("text-negative")
                    .props('role="alert" data-testid="job-error"')
                )
                self.chart = ui.echart(chart_options(user)).classes("w-full h-72")
                self.chart.props('data-testid="loss-chart"')
                self.points = (
                    ui.label("").classes("text-sm text-grey-8").props('data-testid="curve-points"')
                )
                ui.label(tr("training.samples")).classes("font-medium")
                with ui.scroll_area().classes("w-full h-40 border rounded"):
                    self.samples = (
                        ui.column().classes("w-full gap-1 p-2").props('data-testid="samples"')
                    )
        self.body.set_visibility(False)
        self.timer = ui.timer(POLL_S, self.poll, active=False)

    async def show(self, job_id: str, scroll: bool = True) -> None:
        self.job_id = job_id
        self.hint.set_visibility(False)
        self.body.set_visibility(True)
        self.chart.options["series"][0]["data"] = []
        self.chart.options["series"][1]["data"] = []
        self.chart.update()
        await self.poll()
        self.timer.active = self.status in ACTIVE
        if scroll:  # opened from the form or the list: bring the live view into sight
            ui.run_javascript(f"getHtmlElement({self.card.id}).scrollIntoView({{block: 'start'}})")

    async def poll(self) -> None:
        if self.job_id is None:
            return
        try:
            job = await self.user.api.get(f"/api/jobs/{quote(self.job_id, safe='')}")
        except ApiError as exc:
            self.timer.active = False
            layout.show_error(self.user, exc)
            return
        was = self.status
        self.render(job)
        if self.status not in ACTIVE:
            self.timer.active = False
        if was and was != self.status:
            await self.on_change()

    def render(self, job: dict[str, Any]) -> None:
        tr = self.tr
        self.status = job["status"]
        model = job.get("model")
        self.title.text = model or tr("training.job", id=job["id"])
        self.badge.text = tr(f"training.status.{self.status}")
        self.badge.props(f"color={_COLORS.get(self.status, 'grey')}")
        fraction = float(job.get("progress") or 0.0)
        self.bar.value = fraction
        self.percent.text = f"{round(100 * fraction)}%"
        self.message.text = progress_line(tr, job)
        error = job.get("error") or ""
        self.error.text = failure_text(tr, error) if error and self.status == "failed" else error
        self.error.set_visibility(bool(job.get("error")))
        self.cancel.set_visibility(self.status in ACTIVE and not job.get("cancel_requested"))
        ready = self.status == "succeeded" and bool(model)
        self.chat.set_visibility(ready)
        if ready:
            self.chat.text = tr("training.chat", name=model)
            self.chat.props(f'href="/chat?model={quote(str(model))}"')
        metrics = (job.get("result") or {}).get("metrics") or {}
        self._draw(metrics)

    def _draw(self, metrics: dict[str, Any]) -> None:
        tr = self.tr
        loss, val = metrics.get("loss") or [], metrics.get("val_loss") or []
        series = self.chart.options["series"]
        if series[0]["data"] != loss or series[1]["data"] != val:
            series[0]["data"], series[1]["data"] = loss, val
            self.chart.update()
        self.points.text = (
            tr("training.curve.points", n=len(loss), loss=f"{loss[-1][1]:.4f}")
            if loss
            else tr("training.curve.empty")
        )
        samples = metrics.get("samples") or []
        self.samples.clear()
        with self.samples:
            if not samples:
                ui.label(tr("training.samples.none")).classes("text-grey-7 text-sm")
            for sample in reversed(samples):
                ui.label(tr("training.sample_at", n=sample["iteration"])).classes(
                    "text-xs text-grey-7"
                )
                ui.label(sample["text"]).classes("font-mono text-sm whitespace-pre-wrap").props(
                    'data-testid="sample"'
                )

    async def _cancel(self) -> None:
        if self.job_id is None:
            return
        try:
            job = await self.user.api.post(f"/api/jobs/{quote(self.job_id, safe='')}/cancel")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        ui.notify(self.tr("training.cancelling"))
        self.render(job)
        self.timer.active = self.status in ACTIVE
        await self.on_change()


_COLORS = {
    "queued": "grey",
    "running": "primary",
    "succeeded": "positive",
    "failed": "negative",
    "cancelled": "warning",
}


@ui.page("/training")
async def training_page(request: Request, job: str = "") -> RedirectResponse | None:
    user = await gate(request, "member")
    if isinstance(user, RedirectResponse):
        return user
    tr = user.tr
    with layout.frame(user, "/training", "nav.training"):
        try:
            listed = (await user.api.get("/api/families"))["data"]
        except ApiError as exc:
            layout.show_error(user, exc)
            listed = []
        families = [f for f in listed if f["trainable"] and f["trains_on"] == "text"]
        with ui.row().classes("w-full gap-4 items-start no-wrap"):
            form = TrainingForm(user, families)
            with ui.card().classes("flex-grow min-w-0"):
                with ui.row().classes("items-center w-full"):
                    ui.label(tr("training.jobs")).classes("text-lg font-medium").props(
                        'role="heading" aria-level=2'
                    )
                    ui.space()
                    refresh_button = ui.button(icon="refresh").props(
                        f'flat round aria-label="{tr("common.refresh")}" data-testid="jobs-refresh"'
                    )
                table = ui.table(columns=job_columns(user), rows=[], row_key="id")
                table.classes("w-full").props(
                    ':pagination="{rowsPerPage: 0}" hide-bottom flat dense data-testid="jobs-table"'
                )
                table.add_slot("body-cell-open", _OPEN_SLOT)
        view = JobView(user, lambda: refresh())

        async def refresh() -> None:
            try:
                listed = (await user.api.get("/api/jobs"))["data"]
            except ApiError as exc:
                layout.show_error(user, exc)
                return
            jobs = [j for j in listed if j["kind"].startswith("train-")][:RECENT]
            table.rows = [job_row(user, j) for j in jobs]
            table.update()
            list_timer.active = any(j["status"] in ACTIVE for j in jobs)

        async def started(job_id: str) -> None:
            await refresh()
            await view.show(job_id)

        list_timer = ui.timer(3.0, refresh, active=False)
        form.on_started = started
        refresh_button.on_click(refresh)
        table.on("open", lambda e: view.show(e.args["id"]))
        await form.load_files()
        await refresh()
        if job:
            await view.show(job, scroll=False)
    return None


def job_columns(user: ConsoleUser) -> list[dict[str, Any]]:
    names = ("model", "kind", "status", "progress", "created")
    cols = [
        {"name": n, "label": user.tr(f"training.col.{n}"), "field": n, "align": "left"}
        for n in names
    ]
    return [*cols, {"name": "open", "label": "", "field": "id"}]


class TrainingForm:
    """Family, model id, data (picked or uploaded here) and hyperparameters; the API checks.

    The families and their fields come from ``GET /api/families`` (the trainable ones that learn
    from text), so a family added to the server shows here with its own parameters."""

    def __init__(self, user: ConsoleUser, families: list[dict[str, Any]]) -> None:
        tr = self.tr = user.tr
        self.user = user
        self.on_started: Any = None
        self.params = {f["name"]: schema_params(f.get("params_schema")) for f in families}
        self.fields: dict[str, Any] = {}
        first = families[0]["name"] if families else ""
        with ui.card().classes("w-96 shrink-0").props('data-testid="train-form"'):
            ui.label(tr("training.new")).classes("text-lg font-medium").props(
                'role="heading" aria-level=2'
            )
            self.family = ui.select(list(self.params), value=first, label=tr("training.family"))
            self.family.classes("w-full").props('outlined dense data-testid="train-family"')
            self.name = ui.input(tr("training.name")).classes("w-full")
            self.name.props(f'prefix="{first}-" outlined dense data-testid="train-name"')
            self.files = ui.select({}, multiple=True, label=tr("training.files")).classes("w-full")
            self.files.props('outlined dense use-chips data-testid="train-files"')
            most = services().settings.max_upload_bytes  # what /v1/files takes
            labelled_upload(self.user, tr("training.upload"), self._uploaded, most).classes(
                "w-full"
            ).props(
                'accept=".txt,.md,.jsonl,.json,.text,.markdown" flat bordered data-testid="upload"'
            )
            every: dict[str, Param] = {}
            for params in self.params.values():
                for param in params:
                    every.setdefault(param.key, param)
            for advanced in (False, True):
                title = tr("training.params.more" if advanced else "training.params")
                with (
                    ui.expansion(title, icon="tune", value=not advanced).classes(
                        "w-full"
                    ) as self.more,
                    ui.grid(columns=2).classes("w-full gap-2"),
                ):
                    for param in every.values():
                        if param.advanced == advanced:
                            self.fields[param.key] = self._field(param)
            ui.button(tr("training.start"), icon="play_arrow", on_click=self._start).classes(
                "w-full"
            ).props('color=primary data-testid="train-start"')
        self.family.on_value_change(lambda e: self._family_changed(e.value))
        self._family_changed(first)

    def _field(self, param: Param) -> Any:
        key = f"training.param.{param.key}"
        label = self.tr(key)
        label = param.title if label == key else label
        field: ui.select | ui.number | ui.checkbox
        if param.kind == "choice":
            field = ui.select(list(param.choices), label=label)
        elif param.kind == "bool":
            field = ui.checkbox(label)
        else:
            field = ui.number(label, step=1 if param.kind == "int" else None)
        return field.props(f'outlined dense data-testid="param-{param.key}"')

    def _family_changed(self, family: str) -> None:
        self.name.props(f'prefix="{family}-"')
        mine = {p.key: p for p in self.params.get(family, [])}
        self.more.set_visibility(any(p.advanced for p in mine.values()))  # the folded section
        for key, field in self.fields.items():
            field.set_visibility(key in mine)
            if key in mine:
                field.value = mine[key].default

    async def load_files(self, select: str | None = None) -> None:
        try:
            listed = (await self.user.api.get("/v1/files"))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.files.options = {
            f["id"]: f"{f['filename']} ({f['bytes']:,} B, {f['purpose']})" for f in listed
        }
        chosen = [v for v in (self.files.value or []) if v in self.files.options]
        if select is not None:
            chosen.append(select)
        self.files.value = chosen
        self.files.update()

    async def _uploaded(self, event: events.UploadEventArguments) -> None:
        data = await event.file.read()
        try:
            response = await self.user.api.request(
                "POST",
                "/v1/files",
                files={"file": (event.file.name, data, "text/plain")},
                data={"purpose": "training"},
            )
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        ui.notify(self.tr("training.uploaded", name=event.file.name), type="positive")
        await self.load_files(select=response.json()["id"])

    async def _start(self) -> None:
        family = self.family.value
        name = f"{family}-{(self.name.value or '').strip()}"
        body = {
            "family": family,
            "name": name,
            "file_ids": list(self.files.value or []),
            "params": param_values(self.params.get(family, []), self.fields),
        }
        try:
            answer = await self.user.api.post("/api/train", body)
        except (ApiError, ValueError) as exc:
            layout.show_error(self.user, exc)
            return
        ui.notify(self.tr("training.started", name=name), type="positive")
        if self.on_started is not None:
            await self.on_started(answer["job"]["id"])
