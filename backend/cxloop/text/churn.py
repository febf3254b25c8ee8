"""Churn intent: switching to another tool, not renewing, cancelling — in Chinese (Simplified
and Traditional, read as Simplified) and English — unless negated ("we would never switch",
不会换). A threat is intent: "if this isn't fixed we will cancel" counts."""

from __future__ import annotations

import re

_ZH_INTENT = re.compile(
    r"(?:考虑|打算|准备|计划|决定|只能|只好|被迫)(?:换|更换)|"
    r"换(?:平台|供应商|厂商|系统|工具|产品)|另(?:找|寻|选)|找别家|看看别家|重新选型|在选型|招标|"
    r"(?:不再|终止|停止)合作|停止使用|解约|终止合同|不签了|不买了|不续了|退掉|弃坑|卸了|关闭账号|停(?:用|掉)(?:你们|这个|贵司|账号|服务|订阅)|"
    r"(?:砍掉|下线|淘汰)(?:这个|你们|它)?|不用你们|不用这个|"
    r"(?:想|要|会|得|正在|已经|开始|在)(?:换|更换)(?:掉|别|其他|其它|一家|家|成|到|用|(?:一?个)?(?:工具|软件|系统|平台|产品|供应商|服务商|厂商))|"
    r"换(?:别的|别家|其他|其它|一家|个工具|个软件|个系统|个平台|掉|成|用|到)|换一个(?:工具|软件|系统|平台|产品)|"
    r"改用|转用|转投|转向(?!键)|迁移到|迁到|搬到|投奔|弃用|放弃(?:使用|你们|这个|贵司)|"
    r"不(?:再|想再?)(?:用|使用|续)|不想用了|不用了|用不下去|卸载|"
    r"不续费|不续约|不续订|不再续|不会续|不打算续|不准备续|停止续|到期(?:就|后|了就)?(?:不|就不|不再|停)|"
    r"取消(?:订阅|续费|续约|账号|账户|服务|套餐|会员|合同|付费|授权)|退订|退款|注销(?:账号|账户|帐号)?|销户|"
    r"(?:换|用|转|到|去)别家|替代品|替代方案|唔(?:会|會)?再?续|(?:就|要|准备|打算|考虑|会) ?(?:cancel|switch|churn|unsubscribe)|找(?:替代|其他|别的)|(?:在|开始)看(?:其他|别的|别家)|"
    r"迁过去|换过去|搬过去|准备迁|打算迁|准备迁移|换掉|不续(?!航)|不会再续|不再续|不会再用|不再用|"
    r"删除(?:账号|帐号|账户|帐户)|降级到免费|自己开发|不让(?:继续)?用|不能再用|"
    r"(?:签约|签了|合同签给)(?!.*续)|走人|拜拜|再见了"
)
# A competitor named with a move towards it (试用 Amplitude, 已经在用诸葛io, signed with Heap):
# churn when the project configured the competitor.
_ZH_MOVE = re.compile(
    r"换|迁|转|改用|签约|签了|在用|已经用|试用|评估|考虑|准备|打算|比你们|更灵活|更便宜|更好|统一用|要求用|决定用|改成用"
)
_EN_MOVE = re.compile(
    r"\b(?:switch\w*|mov(?:e|ing|ed)|migrat\w*|trial\w*|pilot\w*|evaluat\w*|signed|sign with|"
    r"go(?:ing)? with|leav\w*|replac\w*|prefer\w*|wants? us on|consolidat\w*|consider\w*|"
    r"cheaper|for less|free with|already (?:on|using|migrated))\b"
)
_EN_INTENT = re.compile(
    r"\bfind (?:a |an )?(?:new|different|better|another) (?:tool|vendor|solution|platform|provider|product)\b|"
    r"\blook(?:ing)? for (?:something else|someone else|another|a new|a different|an? alternative)\b|"
    r"\b(?:won't|will not|not going to) be (?:upgrading|buying|purchasing|subscribing|continuing|paying)\b|"
    r"\b(?:i'm|we're|i am|we are) done with\b|\bsunset\w* (?:our|this|the tool|it)\b|"
    r"\b(?:no longer|not going to|unlikely to|decided not to|don't plan on|not planning to|probably won't|"
    r"aren't going to) renew\w*\b|\b(?:drop|dropping|ditch|ditching|dump|dumping) (?:you|this|it|the (?:tool|product|platform))\b|"
    r"\breplac(?:e|ing) (?:you|this tool|this product|this platform)\b|\bmov(?:e|ing) away from\b|"
    r"\bmigrat(?:e|ing) off\b|\bjump(?:ing)? ship\b|\b(?:look|looking|go|going|shop|shopping) (?:elsewhere|around)\b|"
    r"\b(?:exploring|evaluating|considering|comparing|trialing|trialling|testing) (?:options|alternatives|other (?:options|solutions|vendors|tools|platforms|products)|competitors)\b|"
    r"\b(?:another|a different|other) (?:tool|vendor|solution|platform|provider)s? (?:instead|next year|for next year)\b|"
    r"\b(?:end|ending|terminate|terminating) (?:our|the|my) (?:contract|subscription|agreement)\b|\btermination\b|"
    r"\b(?:deactivate|close|delete) (?:our|my) (?:account|workspace|subscription)\b|"
    r"\b(?:stop|stopped) (?:using|paying for) (?:you|this|it)\b|\bno longer (?:use|using|need)\b|"
    r"\bgiv(?:e|ing) up on (?:you|this|it|the (?:tool|product))\b|\buninstall\w*\b|"
    r"\bdowngrad(?:e|ing) to (?:the )?(?:free|basic|starter|cheapest)\b|"
    r"\b(?:or|otherwise|else) (?:we'll|we will|we're going to|we are going to|i'll|i will) (?:leave|cancel|switch|go|look|move|churn)\b|"
    r"\bwe(?:'ll| will) (?:leave|cancel|churn|look elsewhere|walk)\b|"
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
    r"\bdowngrad(?:e|ing) to (?:the )?free\b|"
    r"\b(?:not be|won't be|will not be|aren't|are not) renewing\b|\bdoubt (?:we'll|we will|we'd) renew|"
    r"\bhard to justify (?:renewing|the renewal|the cost|paying)|\b(?:won't|will not) approve the renewal\b|"
    r"\bno to the renewal\b|\bsigned with\b|\btake our (?:money|business) elsewhere\b|"
    r"\bwe(?:'re| are) (?:out|done|moving on|off)\b|\bmoving on\b|\bmov(?:e|ing) (?:off|everything|our \w+ to)\b|"
    r"\bwants? us off\b|\blet it (?:lapse|expire)\b|\bleaving\b(?! (?:a |the |comments?|feedback|notes?|reviews?))|"
    r"\breconsidering\b|\bdidn't make the cut\b|\b(?:first|one of the first) (?:tools?|things?|vendors?) to go\b|"
    r"\bfind (?:a |an )?(?:replacement|alternative)s?\b|\bconsolidating vendors\b|\blast straw\b|"
    r"\b(?:we'll|we will|we're going to|going to|will) switch\b|\bswitch tools\b|\bwe(?:'re| are) switching\b|"
    r"\b(?:can't|cannot) keep using\b|\bstop (?:using|paying)\b|\bcancel+ation\b|"
    r"\b(?:we're|we are|i'm|i am) gone\b|"
    r"\bthinking (?:about|of) (?:switching|leaving|cancel+ing|moving|replacing|dropping)\b|"
    r"\b(?:won't|will not|no longer) need (?:the|our|any|this|a) (?:licen[cs]es?|seats?|subscription|account|tool)\b"
)
_EN_NOT_INTENT = re.compile(
    r"\b(?:switch(?:ed|ing)? from|cancel+(?:ed|ing)? the (?:meeting|call|report|export|invite|job|run)|"
    r"cancel (?:subscription |account )?(?:button|page|link|option|flow|dialog|menu))"
)
_EN_REVERSED = re.compile(r"\b(?:was|were) (?:about|going|ready) to|\balmost\b|\bnearly\b")
# A negation shortly before the intent: "would never switch", "no plans to cancel", 不会换, 没打算换.
_ZH_NEGATED = re.compile(
    r"(?:不会|不打算|没打算|不准备|没准备|不想|没想过?|不考虑|没考虑过?|不可能|绝不|决不|从没|从来没|从不|没有必要|没必要|暂时不|不至于|舍不得)"
    r"[^，。,.!?;]{0,4}$"
)
_ZH_NEGATED_ANYWHERE = re.compile(
    r"(?:不会|没打算|不打算|不考虑|不可能|没想过|不想)(?:换|迁|转|改用|用别)|"
    r"(?:换|转|迁移?|改用)(?:成|到|来)?(?:你们|贵司|这边)|选了你们|从\S{1,10}(?:换|转|迁)(?:过来|到这)|"
    r"一起用|同时用|搭配|(?:本来|原本|差点|差一点|一度)(?:想|要|打算)?(?:退订|取消|换|不续|走)[^。]*(?:继续用|留下|不换了|解决)|不会走|也不走"
)
_EN_NEGATED_ANYWHERE = re.compile(
    r"\b(?:would never|never (?:switch|leave|go back)|no plans to|not (?:going|planning) to (?:switch|leave|move)|"
    r"(?:switched|moved|migrated) (?:from|away from) \w+(?: \w+)? to (?:you|this|cxloop)|alongside|not going back|"
    r"never looked back|(?:leaving|left|switched from) \w+(?: \w+)? for you|moved (?:\w+ )?(?:here|to you|over to you)|"
    r"(?:switched|moved|migrated|came|moving|switching) (?:over )?to you|chose you|picked you|"
    r"glad we stayed|decided to stay|(?:we|i) stayed)\b"
)
_EN_NEGATED = re.compile(
    r"\b(?:never|no plans? to|no reason to|not planning to|not thinking of|not considering|"
    r"wouldn't|would not|don't want to|do not want to|don't|do not|won't|will not|not|no need to|"
    r"can't imagine|cannot imagine|not about to)\b(?: \w+){0,2} ?$"
)


def has_churn_intent(text: str, competitor_named: bool = False) -> bool:
    """Whether a cleaned, lower-cased, Simplified text says the customer means to leave;
    `competitor_named`: a configured competitor is mentioned (then a move towards it counts)."""
    if _ZH_NEGATED_ANYWHERE.search(text) or _EN_NEGATED_ANYWHERE.search(text):
        return False  # "we would never switch", 不会换, "left Amplitude for you"
    if competitor_named and (_ZH_MOVE.search(text) or _EN_MOVE.search(text)):
        return True
    for match in _ZH_INTENT.finditer(text):
        start = match.start()
        # The negator may overlap the match (不会换: the intent matched 会换); an intent that
        # starts with its own negation (不续费, 不想用了) is only negated by what precedes it.
        window = text[max(0, start - 10) : start if match.group(0)[0] in "不没" else start + 3]
        if not _ZH_NEGATED.search(window):
            return True
    for match in _EN_INTENT.finditer(text):
        found = match.group(0)
        if _EN_NOT_INTENT.match(text, match.start()):
            continue
        before = text[max(0, match.start() - 30) : match.start()]
        if _EN_REVERSED.search(before) and " but " in text[match.end() :]:
            continue  # "was about to cancel but support fixed it": past and reversed
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
