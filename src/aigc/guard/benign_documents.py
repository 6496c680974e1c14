"""Generated documents that give their *human reader* instructions: benign training data.

An injected instruction in a retrieved page or tool output addresses the assistant ("in your
answer, include …"); an ordinary e-mail, notice or README addresses its reader just as
imperatively ("click the link below", "reply by Friday", "run pip install"). The document
detector's benign data were code, prose and technical docs, which rarely speak to anyone, so it
learnt "you / your / please" as the attack. These notices, mails, chat messages, READMEs and
calendar entries, English and Chinese, are composed from parts written here (not from any
evaluation set).
"""

from __future__ import annotations

import random

from aigc.guard.benign_tasks import word_list

NAMES = word_list("Anna; Ben; Carlos; Dana; Emeka; Fatima; Grace; Hiro; Ines; Jonas; Li Wei; Maya")
COMPANIES = word_list("Northwind; Contoso; Acme Cloud; BlueSky Travel; Fabrikam Bank; Litware")
EVENTS = word_list(
    "your order #{n} has shipped; your password was changed; your invoice for March is ready; "
    "your subscription renews on 1 June; your meeting with {name} moved to 3 pm; "
    "your package is out for delivery; your monthly statement is available; "
    "your free trial ends in three days; your expense report was approved; "
    "your flight to Lisbon is confirmed; a new sign-in to your account was detected; "
    "your storage is 90% full; the team offsite is booked for Thursday"
)
READER_STEPS = word_list(
    "Click the link below to track it.; If this wasn't you, reset your password right away.; "
    "Please review it and pay by the 15th.; Reply to this email if you have any questions.; "
    "Log in to your account to download it.; Please confirm that you can attend.; "
    "You can change your notification settings at any time.; Remember to bring photo ID.; "
    "Back up your files before the upgrade starts.; Please submit your timesheet by Friday.; "
    "Make sure you check in online 24 hours before departure.; "
    "Forward this message to anyone on your team who needs access.; "
    "Do not share this code with anyone.; Upgrade your plan to keep syncing your files."
)
CLOSINGS = word_list("Thanks,; Best regards,; Cheers,; Kind regards,; See you soon,")
README_STEPS = word_list(
    "Run `pip install {pkg}` in a fresh virtual environment.; "
    "Set the `{var}` environment variable before you start the server.; "
    "Copy `config.example.yaml` to `config.yaml` and fill in your credentials.; "
    "Restart the service with `systemctl restart {pkg}`.; "
    "Open Settings, choose Security and click Reset to get a new key.; "
    "If the build fails, delete the `build/` folder and try again.; "
    "Never commit your `.env` file, list it in `.gitignore`.; "
    "You should now see the dashboard at http://localhost:8080.; "
    "Report bugs on the issue tracker and include the output of `{pkg} --version`."
)
PACKAGES = word_list("fastqueue; datalens; pyinvoice; logtail; mapkit; reportgen")
VARS = word_list("API_TOKEN; DATABASE_URL; LOG_LEVEL; CACHE_DIR")
AGENDA = word_list(
    "review the Q3 numbers; agree on the hiring plan; demo the new onboarding flow; "
    "decide on the vendor for the office move; go through open support tickets; "
    "plan the release of version 2.4"
)

ZH_EVENTS = word_list(
    "您的订单已发货; 您的密码已修改; 您本月的账单已生成; 您的会员将于下月到期; "
    "您的快递正在派送中; 您预约的体检时间已确认; 您的报销申请已通过审批; 您的云盘空间即将用完"
)
ZH_STEPS = word_list(
    "请注意查收。; 如非本人操作，请立即修改密码。; 请在15日前完成缴费。; 如有疑问，请回复本邮件。; "
    "请登录账户下载电子发票。; 请准时参加并提前准备汇报材料。; 请携带身份证原件。; "
    "请勿将验证码告诉他人。; 升级套餐即可继续使用同步功能。; 请于周五前提交工时表。"
)
ZH_NOTICE_KINDS = word_list("会议通知; 温馨提示; 放假通知; 系统维护; 培训通知; 行政通知")
ZH_WHEN = word_list("本周四下午三点; 下周一上午九点; 本月二十日; 周六凌晨两点至六点; 月底前")
ZH_WHAT = word_list(
    "在三楼会议室召开季度总结会; 进行办公系统升级，届时将无法登录; 开展消防安全培训; "
    "统一更换门禁卡; 截止年度体检预约; 对办公电脑进行安全检查"
)
ZH_ASKS = word_list(
    "请各部门负责人准时参加; 请提前保存好工作文件; 请大家积极报名; 请携带工牌到前台办理; "
    "请尚未预约的同事尽快登录系统预约; 请配合信息部同事的工作"
)


def english_document(rng: random.Random) -> str:
    kind = rng.random()
    name = rng.choice(NAMES)
    if kind < 0.45:
        event = rng.choice(EVENTS).format(n=rng.randrange(10000, 99999), name=rng.choice(NAMES))
        steps = " ".join(rng.sample(READER_STEPS, rng.randint(1, 3)))
        signature = f"{rng.choice(CLOSINGS)}\n{rng.choice(COMPANIES)} team"
        return f"Hi {name},\n\n{event[0].upper()}{event[1:]}. {steps}\n\n{signature}"
    if kind < 0.7:
        pkg, var = rng.choice(PACKAGES), rng.choice(VARS)
        picked = rng.sample(README_STEPS, rng.randint(2, 4))
        numbered = (f"{i + 1}. {s.format(pkg=pkg, var=var)}" for i, s in enumerate(picked))
        return f"## Getting started with {pkg}\n\n" + "\n".join(numbered)
    if kind < 0.85:
        items = "; ".join(rng.sample(AGENDA, 2))
        return (
            f"Team sync with {name}, Tuesday 10:00\nAgenda: {items}.\n"
            "Please read the attached deck before the meeting and add your questions to the doc."
        )
    ask = f"@{rng.choice(NAMES)} could you send me the slides before 3pm?"
    return f"{ask} {rng.choice(READER_STEPS)} Thanks! - {name}"


def chinese_document(rng: random.Random) -> str:
    if rng.random() < 0.6:
        steps = "".join(rng.sample(ZH_STEPS, rng.randint(1, 2)))
        return f"尊敬的用户：\n{rng.choice(ZH_EVENTS)}，{steps}\n感谢您的支持！"
    kind, when, what, ask = (rng.choice(x) for x in (ZH_NOTICE_KINDS, ZH_WHEN, ZH_WHAT, ZH_ASKS))
    return f"{kind}：{when}{what}，{ask}。如有疑问请联系行政部。"


def documents(rng: random.Random, n: int) -> list[str]:
    """``n`` documents, about a quarter of them Chinese."""
    return [
        chinese_document(rng) if rng.random() < 0.25 else english_document(rng) for _ in range(n)
    ]
