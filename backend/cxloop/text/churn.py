"""Churn intent: switching to another tool, not renewing, cancelling — in Chinese (Simplified
and Traditional, read as Simplified) and English — unless negated ("we would never switch",
不会换). A threat is intent: "if this isn't fixed we will cancel" counts."""

from __future__ import annotations

import re

_ZH_INTENT = re.compile(
    r"(?:考虑|打算|准备|计划|决定|只能|只好|被迫)(?:换|更换)|"
    r"(?:想|要|会|得|正在|已经|开始|在)(?:换|更换)(?:掉|别|其他|其它|一家|家|成|到|用|(?:一?个)?(?:工具|软件|系统|平台|产品|供应商|服务商|厂商))|"
    r"换(?:别的|别家|其他|其它|一家|个工具|个软件|个系统|个平台|掉|成|用|到)|换一个(?:工具|软件|系统|平台|产品)|"
    r"改用|转用|转投|转向(?!键)|迁移到|迁到|搬到|投奔|弃用|放弃(?:使用|你们|这个|贵司)|"
    r"不(?:再|想再?)(?:用|使用|续)|不想用了|不用了|用不下去|卸载|"
    r"不续费|不续约|不续订|不再续|不会续|不打算续|不准备续|停止续|到期(?:就|后|了就)?(?:不|就不|不再|停)|"
    r"取消(?:订阅|续费|续约|账号|账户|服务|套餐|会员|合同|付费|授权)|退订|退款|注销(?:账号|账户|帐号)?|销户|"
    r"别家|竞品|替代品|替代方案|其他(?:家|厂商|供应商|产品|工具|软件)(?:更|也|都|比)|找(?:替代|其他|别的)"
)
_EN_INTENT = re.compile(
    r"\bswitch(?:ing|ed)? (?:to|over|away|from|providers?|vendors?|tools?|platforms?)\b|"
    r"\b(?:move|moving|moved|migrat(?:e|ing|ed)) (?:to|over to|away)\b|"
    r"\blooking (?:at|for|into) (?:alternatives?|other|another|competitors?|a replacement|replacements?)\b|"
    r"\bevaluat(?:e|ing) (?:other|alternatives?|competitors?|another)\b|"
    r"\bconsidering (?:other|alternatives?|switching|moving|leaving|cancel+ing|competitors?|another)\b|"
    r"\b(?:find|found|try|trying|use|using) (?:a |an )?(?:alternative|competitor|replacement|another (?:tool|vendor|product|platform))\b|"
    r"\breplac(?:e|ing) (?:you|this|it)\b|"
    r"\b(?:won't|will not|not going to|aren't going to|are not going to|don't plan to|do not plan to|not) renew(?:ing)?\b|"
    r"\bnot renewing\b|\blet (?:the|our|my) (?:contract|subscription|plan|license|licence) (?:lapse|expire|run out)\b|"
    r"\bcancel+(?:ing|ed|ation)? (?:our|my|the)? ?(?:subscription|account|plan|contract|service|membership|license|licence|seats)\b|"
    r"\b(?:will|going to|gonna|'ll|plan to|planning to|about to|want to|have to|might|may|thinking of|thinking about) cancel+(?:ing)?\b|"
    r"\bcancel+ing\b|\bunsubscrib(?:e|ing)\b|\b(?:close|closing|delete|deleting) (?:our|my) account\b|"
    r"\b(?:ask(?:ing)? for|want|request(?:ing)?|demand(?:ing)?) (?:a |our |my )?refund\b|"
    r"\bleav(?:e|ing) (?:you|this|for)\b|\bwe(?:'re| are) (?:leaving|done)\b|\bchurn(?:ing)?\b|"
    r"\bdowngrad(?:e|ing) to (?:the )?free\b"
)
# A negation shortly before the intent: "would never switch", "no plans to cancel", 不会换, 没打算换.
_ZH_NEGATED = re.compile(
    r"(?:不会|不打算|没打算|不准备|没准备|不想|没想过?|不考虑|没考虑过?|不可能|绝不|决不|从没|从来没|从不|没有必要|没必要|暂时不|不至于|舍不得)"
    r"[^，。,.!?;]{0,4}$"
)
_EN_NEGATED = re.compile(
    r"\b(?:never|no plans? to|no reason to|not planning to|not thinking of|not considering|"
    r"wouldn't|would not|don't want to|do not want to|don't|do not|won't|will not|not|no need to|"
    r"can't imagine|cannot imagine|not about to)\b(?: \w+){0,2} ?$"
)


def has_churn_intent(text: str) -> bool:
    """Whether a cleaned, lower-cased, Simplified text says the customer means to leave."""
    for match in _ZH_INTENT.finditer(text):
        start = match.start()
        # The negator may overlap the match (不会换: the intent matched 会换); an intent that
        # starts with its own negation (不续费, 不想用了) is only negated by what precedes it.
        window = text[max(0, start - 10) : start if match.group(0)[0] in "不没" else start + 3]
        if not _ZH_NEGATED.search(window):
            return True
    for match in _EN_INTENT.finditer(text):
        found = match.group(0)
        if "renew" in found and found.split()[0] in (
            "won't",
            "will",
            "not",
            "aren't",
            "are",
            "don't",
            "do",
        ):
            return True  # "won't renew" carries its own negation: it is the intent
        if not _EN_NEGATED.search(text[max(0, match.start() - 40) : match.start()]):
            return True
    return False
