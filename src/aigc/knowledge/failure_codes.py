"""Stable codes for why a document could not be indexed, stored beside the English reason,
and what each code says in every language the console speaks.

The reason's text is for people reading the API (it may name a page count or a library's
words); the code is for programs and for the console, which tells the reason in the reader's
language from ``REASONS`` here: this table is the one place a reason is named, so a code the
parsers raise always has its words (tests/knowledge/test_failure_codes.py checks both ways).
A code, once stored, keeps its meaning: add new ones, never reuse one.
"""

from __future__ import annotations

from dataclasses import dataclass

PDF_CORRUPT = "pdf_corrupt"
PDF_PASSWORD = "pdf_password"
PDF_NO_PAGES = "pdf_no_pages"
PDF_XFA = "pdf_xfa"
PDF_TOO_MANY_PAGES = "pdf_too_many_pages"
NO_TEXT = "no_text"
UNREADABLE_COPY = "stored_copy_unreadable"
PROCESSING_ERROR = "processing_error"
UNSUPPORTED_TYPE = "unsupported_type"
SAVE_AS_OTHER_FORMAT = "save_as_other_format"
INVALID_FILE = "invalid_file"
TEXT_UNDECODABLE = "text_undecodable"
JSONL_INVALID_LINE = "jsonl_invalid_line"
MHT_NO_PAGE = "mht_no_page"
ZIP_CORRUPT = "zip_corrupt"
ZIP_TOO_MANY_PARTS = "zip_too_many_parts"
ZIP_UNSAFE_PATH = "zip_unsafe_path"
ZIP_BOMB = "zip_bomb"  # a part expands too many times its packed size
ZIP_EXPANDS_TOO_FAR = "zip_expands_too_far"  # the parts together: more bytes than the limit
TOO_MANY_SLIDES = "too_many_slides"
ODF_NO_CONTENT = "odf_no_content"
ODF_NOT_TEXT = "odf_not_text"
ODF_NOT_PRESENTATION = "odf_not_presentation"
EMAIL_INVALID = "email_invalid"
EMAIL_UNREADABLE = "email_unreadable"
ARCHIVE_UNREADABLE = "archive_unreadable"
ARCHIVE_NOTHING_READABLE = "archive_nothing_readable"
NESTED_TOO_DEEP = "nested_too_deep"
IMAGE_UNREADABLE = "image_unreadable"
IMAGE_TOO_LARGE = "image_too_large"
OCR_UNAVAILABLE = "ocr_unavailable"
SHEET_TOO_MANY_CELLS = "sheet_too_many_cells"
SHEET_UNREADABLE = "sheet_unreadable"
READ_TIMEOUT = "read_timeout"
READ_OUT_OF_MEMORY = "read_out_of_memory"
TEXT_NOT_STORED = "text_not_stored"
INDEXING_CANCELLED = "indexing_cancelled"
INDEXING_STOPPED = "indexing_stopped"


@dataclass(frozen=True)
class Reason:
    """What a code says, in English (the console's English table; the API keeps its own,
    more precise words) and in Simplified Chinese."""

    en: str
    zh: str


# What a code says with the values its failure kept (``DocumentRejected.values``: a PDF's pages
# and the limit), where the reason names numbers; the words above where a failure has none.
WITH_VALUES: dict[str, Reason] = {}


REASONS: dict[str, Reason] = {
    PDF_CORRUPT: Reason("The PDF is corrupt or not a PDF.", "PDF 文件已损坏，或不是 PDF 文件。"),
    PDF_PASSWORD: Reason(
        "The PDF needs a password to open; upload a copy without it.",
        "该 PDF 需要密码才能打开，请上传不带密码的副本。",
    ),
    PDF_NO_PAGES: Reason("The PDF has no pages.", "该 PDF 没有任何页面。"),
    PDF_XFA: Reason(
        "The PDF is a dynamic XFA form; export or print it to a normal PDF.",
        "该 PDF 是动态 XFA 表单，请先导出或打印为普通 PDF。",
    ),
    PDF_TOO_MANY_PAGES: Reason(
        "The PDF has more pages than this server reads; split it and upload the parts.",
        "该 PDF 的页数超过了本服务器的上限，请拆分后分别上传。",
    ),
    NO_TEXT: Reason(
        "No text could be extracted from this document.", "无法从该文档中提取任何文字。"
    ),
    UNREADABLE_COPY: Reason(
        "The stored copy could not be read; upload it again.",
        "无法读取已保存的文件副本，请重新上传。",
    ),
    PROCESSING_ERROR: Reason("The document could not be processed.", "无法处理该文档。"),
    UNSUPPORTED_TYPE: Reason("This file type is not supported.", "不支持该文件类型。"),
    SAVE_AS_OTHER_FORMAT: Reason(
        "This format is not read here: save it in a supported one (Save As, or Export: "
        ".docx, .pptx, .xlsx, .jpg) and upload that.",
        "无法读取该格式：请用原软件“另存为”或“导出”为受支持的格式（如 .docx、.pptx、.xlsx、.jpg）"
        "后再上传。",
    ),
    INVALID_FILE: Reason(
        "The file is damaged or not of the type its name says.",
        "文件已损坏，或与其扩展名所示的类型不符。",
    ),
    TEXT_UNDECODABLE: Reason(
        "The text's encoding could not be recognized; save it as UTF-8 and upload it again.",
        "无法识别该文本的编码，请另存为 UTF-8 后重新上传。",
    ),
    JSONL_INVALID_LINE: Reason(
        "A line of the JSONL file is not valid JSON.", "该 JSONL 文件中有一行不是有效的 JSON。"
    ),
    MHT_NO_PAGE: Reason("The MHT file holds no web page or text.", "该 MHT 文件中没有网页或文字。"),
    ZIP_CORRUPT: Reason(
        "The file is corrupt (not a valid zip container).",
        "文件已损坏（不是有效的 zip 容器）。",
    ),
    ZIP_TOO_MANY_PARTS: Reason("The file holds too many parts.", "文件包含的部件过多。"),
    ZIP_UNSAFE_PATH: Reason(
        "The file holds a part with an unsafe path.", "文件中有路径不安全的部件。"
    ),
    ZIP_BOMB: Reason(
        "The file expands to far more than its size (a possible zip bomb).",
        "文件解压后远大于其本身（可能是 zip 炸弹）。",
    ),
    ZIP_EXPANDS_TOO_FAR: Reason(
        "The file expands to more bytes than this server reads (a possible zip bomb).",
        "文件解压后的大小超过了本服务器的上限（可能是 zip 炸弹）。",
    ),
    TOO_MANY_SLIDES: Reason(
        "The presentation has more slides than this server reads.",
        "该演示文稿的幻灯片数量超过了本服务器的上限。",
    ),
    ODF_NO_CONTENT: Reason(
        "The OpenDocument file has no content.",
        "该 OpenDocument 文件没有内容（缺少 content.xml）。",
    ),
    ODF_NOT_TEXT: Reason(
        "The file is not an OpenDocument text.", "该文件不是 OpenDocument 文本文档。"
    ),
    ODF_NOT_PRESENTATION: Reason(
        "The file is not an OpenDocument presentation.", "该文件不是 OpenDocument 演示文稿。"
    ),
    EMAIL_INVALID: Reason("The file is not an e-mail message.", "该文件不是电子邮件。"),
    EMAIL_UNREADABLE: Reason("The e-mail could not be read.", "无法读取该电子邮件。"),
    ARCHIVE_UNREADABLE: Reason("The archive could not be read.", "无法读取该压缩包。"),
    ARCHIVE_NOTHING_READABLE: Reason(
        "The archive holds no file that could be read.", "该压缩包中没有可读取的文件。"
    ),
    NESTED_TOO_DEEP: Reason(
        "An e-mail or archive nested this deep inside other files is not opened.",
        "嵌套层级过深的电子邮件或压缩包不会被打开。",
    ),
    IMAGE_UNREADABLE: Reason(
        "The file is not an image that can be read (PNG, JPEG, TIFF, BMP or WebP).",
        "该文件不是可读取的图片（PNG、JPEG、TIFF、BMP 或 WebP）。",
    ),
    IMAGE_TOO_LARGE: Reason(
        "The image has more pixels than this server reads.",
        "该图片的像素数超过了本服务器的上限。",
    ),
    OCR_UNAVAILABLE: Reason(
        "An image's text can only be read by OCR, which is not available on this server.",
        "图片中的文字只能通过 OCR 读取，而本服务器未启用 OCR。",
    ),
    SHEET_TOO_MANY_CELLS: Reason(
        "The spreadsheet has more cells than this server reads; upload the sheets or rows "
        "that matter.",
        "该电子表格的单元格数量超过了上限，请只上传需要的工作表或行。",
    ),
    SHEET_UNREADABLE: Reason("The spreadsheet could not be read.", "无法读取该电子表格。"),
    READ_TIMEOUT: Reason(
        "Reading the file took too long and was stopped.", "读取该文件耗时过长，已被停止。"
    ),
    READ_OUT_OF_MEMORY: Reason(
        "Reading the file needed more memory than allowed, or crashed the reader.",
        "读取该文件所需内存超过上限，或导致读取程序崩溃。",
    ),
    TEXT_NOT_STORED: Reason("The document's text could not be stored.", "无法保存该文档的文字。"),
    INDEXING_CANCELLED: Reason(
        "Indexing was cancelled before this document was done; upload it again to index it.",
        "索引在处理完该文档之前被取消，请重新上传以建立索引。",
    ),
    INDEXING_STOPPED: Reason(
        "Indexing stopped before this document was done; upload it again to retry.",
        "索引在处理完该文档之前已停止，请重新上传以重试。",
    ),
}

CODES = frozenset(REASONS)

WITH_VALUES.update(
    {
        PDF_TOO_MANY_PAGES: Reason(
            "The PDF has {pages} pages; this server reads at most {limit}: split it and upload "
            "the parts.",
            "该 PDF 共 {pages} 页，超过了本服务器 {limit} 页的上限，请拆分后分别上传。",
        ),
        TOO_MANY_SLIDES: Reason(
            "The presentation has {slides} slides; this server reads at most {limit}.",
            "该演示文稿共 {slides} 张幻灯片，超过了本服务器 {limit} 张的上限。",
        ),
        IMAGE_TOO_LARGE: Reason(
            "The image has {width}×{height} pixels; this server reads at most {limit} pixels.",
            "该图片为 {width}×{height} 像素，超过了本服务器 {limit} 像素的上限。",
        ),
        SHEET_TOO_MANY_CELLS: Reason(
            "The spreadsheet has more than {limit} cells, the limit; upload the sheets or rows "
            "that matter.",
            "该电子表格的单元格超过 {limit} 个的上限，请只上传需要的工作表或行。",
        ),
        ZIP_TOO_MANY_PARTS: Reason(
            "The file holds {parts} parts; too many.", "文件包含 {parts} 个部件，数量过多。"
        ),
        ZIP_BOMB: Reason(
            "The file looks like a zip bomb: its part '{part}' expands {ratio} times.",
            "文件可能是 zip 炸弹：其中的部件「{part}」解压后扩大了 {ratio} 倍。",
        ),
        ZIP_EXPANDS_TOO_FAR: Reason(
            "The file expands to {size} bytes; this server reads at most {limit} (a possible "
            "zip bomb).",
            "文件解压后共 {size} 字节，超过了本服务器 {limit} 字节的上限（可能是 zip 炸弹）。",
        ),
        NESTED_TOO_DEEP: Reason(
            "An e-mail or archive inside {depth} levels of files is not opened.",
            "位于 {depth} 层文件之内的电子邮件或压缩包不会被打开。",
        ),
        JSONL_INVALID_LINE: Reason(
            "Line {line} of the JSONL file is not valid JSON.",
            "该 JSONL 文件的第 {line} 行不是有效的 JSON。",
        ),
        READ_TIMEOUT: Reason(
            "Reading the file took longer than {seconds} s and was stopped.",
            "读取该文件超过 {seconds} 秒，已被停止。",
        ),
        READ_OUT_OF_MEMORY: Reason(
            "Reading the file needed more than {memory_mb} MB of memory, or crashed the reader.",
            "读取该文件所需内存超过 {memory_mb} MB 的上限，或导致读取程序崩溃。",
        ),
    }
)
