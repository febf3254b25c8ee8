"""Sentiment of a comment from a lexicon and rules: negation, degree adverbs, contrast, questions
and requests, emoji and emoticons, intensifying punctuation — in Chinese and English, mixed too.

The text is cut into clauses; each lexicon hit in a clause is weighted by the words just before
it (negators flip it, degree adverbs scale it) and by its clause (after 但是/but it weighs more,
in a question or a request less). Positive and negative evidence are summed apart, so a comment
with substantive parts of both is "mixed".
"""

from __future__ import annotations

import re
from importlib import resources

from cxloop.text.patterns import trie_pattern
from cxloop.text.segment import HAN_CHAR, stem


def _read_lexicon(name: str) -> dict[str, float]:
    data = resources.files("cxloop.text").joinpath("data", name).read_text(encoding="utf-8")
    lexicon: dict[str, float] = {}
    for line in data.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, _, weight = line.partition("\t")
        lexicon[term.strip()] = float(weight)
    return lexicon


ZH_LEXICON = _read_lexicon("sentiment_zh.tsv")
_EN_RAW = _read_lexicon("sentiment_en.tsv")
EMOJI = {symbol.lower(): weight for symbol, weight in _read_lexicon("emoji.tsv").items()}

_ZH_HITS = re.compile(trie_pattern(ZH_LEXICON))
_EMOJI_HITS = re.compile(
    "|".join(re.escape(s) for s in sorted(EMOJI, key=len, reverse=True) if not s.isascii())
)
# Emoticons only between spaces or at the ends, so "http://" or "(a):" are not faces.
_EMOTICON_HITS = re.compile(
    r"(?<![^\s])("
    + "|".join(re.escape(s) for s in sorted(EMOJI, key=len, reverse=True) if s.isascii())
    + r")(?![^\s.!?,])"
)

_LATIN = re.compile("[a-z]")
_EN_WORD = re.compile(r"[a-z][a-z0-9]*(?:['’][a-z]+)?|[0-9]+")


def _en_key(phrase: str) -> tuple[str, ...]:
    return tuple(stem(word) for word in _EN_WORD.findall(phrase.replace("’", "'")))


EN_LEXICON: dict[tuple[str, ...], float] = {}
for _phrase, _weight in _EN_RAW.items():
    _key = _en_key(_phrase)
    if _key and (_key not in EN_LEXICON or abs(_weight) > abs(EN_LEXICON[_key])):
        EN_LEXICON[_key] = _weight
_EN_LONGEST = max(len(key) for key in EN_LEXICON)

# Chinese negation right before a hit, with at most a few filler words between them
# (不是很满意, 没有想象中难用, 一点也不慢).
_ZH_STRONG_NEGATORS = "冇|一点也不|一点都不|一点儿也不|一点儿都不|完全不|根本不|根本没有|根本没|毫不|绝不|决不|从来不|从不|从来没有|从没"
_ZH_NEGATORS = (
    _ZH_STRONG_NEGATORS
    + "|并没有|并不|并没|没有|不是|不算|不太|不怎么|不够|不再|不会|不|没|无|未|(?<![特区分识级类])别|并非|都不|也不|唔係|唔会|唔"
)
_ZH_FILLERS = "想像中的|想像中|想象中的|想象中|想象的|预期中|预期的|预期|以为的|以前|之前|说的|传说中|那么|这么|那样|很|太|特别|非常|十分|算|是|的|会|再|大|怎么|够|得"
_ZH_NEGATED = re.compile(f"(?:{_ZH_NEGATORS})(?:{_ZH_FILLERS}){{0,3}}$")
_ZH_STRONG = re.compile(f"^(?:{_ZH_STRONG_NEGATORS})")
_ZH_DEGREE = {
    "非常": 1.5,
    "特别": 1.5,
    "十分": 1.5,
    "极其": 1.7,
    "极": 1.5,
    "超级": 1.5,
    "超": 1.4,
    "巨": 1.5,
    "贼": 1.4,
    "太": 1.4,
    "太过": 1.4,
    "真的": 1.3,
    "真": 1.3,
    "实在": 1.3,
    "相当": 1.3,
    "好": 1.3,
    "最": 1.4,
    "更": 1.2,
    "越来越": 1.3,
    "很": 1.2,
    "挺": 1.1,
    "蛮": 1.1,
    "确实": 1.1,
    "总是": 1.2,
    "老是": 1.2,
    "经常": 1.2,
    "一直": 1.1,
    "这么": 1.2,
    "那么": 1.1,
    "又": 1.1,
    "比较": 0.9,
    "有点儿": 0.7,
    "有点": 0.7,
    "有些": 0.7,
    "有一点": 0.7,
    "稍微": 0.6,
    "稍": 0.6,
    "略微": 0.6,
    "略": 0.6,
}
_ZH_DEGREE_END = re.compile(
    "(" + "|".join(sorted(map(re.escape, _ZH_DEGREE), key=len, reverse=True)) + ")$"
)

_EN_NEGATORS = frozenset(
    (
        *("not", "no", "never", "n't", "nothing", "none", "neither", "nor", "without"),
        *("hardly", "barely", "cannot", "can't", "don't", "doesn't", "didn't", "isn't"),
        *("wasn't", "aren't", "weren't", "won't", "wouldn't", "shouldn't", "couldn't"),
        *("haven't", "hasn't", "hadn't", "ain't", "dont", "doesnt", "didnt", "isnt", "wasnt"),
        *("cant", "wont"),
    )
)
_EN_STRONG_NEGATORS = frozenset(["never", "nothing"])
_EN_DEGREE = {
    "very": 1.4,
    "really": 1.3,
    "so": 1.3,
    "too": 1.3,
    "extremely": 1.7,
    "super": 1.5,
    "incredibly": 1.6,
    "absolutely": 1.5,
    "totally": 1.4,
    "completely": 1.4,
    "truly": 1.3,
    "highly": 1.3,
    "quite": 1.1,
    "pretty": 1.1,
    "rather": 0.9,
    "fairly": 0.9,
    "somewhat": 0.7,
    "slightly": 0.6,
    "bit": 0.7,
    "little": 0.7,
    "kinda": 0.7,
    "always": 1.2,
    "constantly": 1.3,
    "often": 1.1,
    "most": 1.2,
    "more": 1.1,
}

# Clauses end at punctuation or a line break (NFKC made full-width ，！？ ASCII); a contrast word
# starts a new clause.
_SENTENCE = re.compile(r"([^,.;:!?。、…~\n]*)([,.;:!?。、…~\n]*)")
_CONTRAST_SPLIT = re.compile(r"(?=但是|不过|可是|然而|可惜|\bbut\b|\bhowever\b)")
_CONTRAST_START = re.compile(
    r"^\s*(?:但是|但|不过|可是|然而|可惜|只是|就是|but\b|however\b|though\b|unfortunately\b|except\b|sadly\b)"
)
_CONCESSION_START = re.compile(
    r"^\s*(?:虽然|尽管|虽说|although\b|though\b|even though\b|while\b|apart from\b)"
)
_REQUEST = re.compile(
    r"希望|建议|能不能|可不可以|能否|可否|是否可以|是否能|要是能|如果能|最好能|最好是|期待|请|麻烦|想要|"
    r"\bplease\b|\bwould be (?:nice|great|good|awesome|helpful)|\bwould love\b|\bi wish\b|\bwish\b|"
    r"\bhope\b|\bhopefully\b|\bcould you\b|\bcan you\b|\bwould like\b|\bi'd like\b|\bi'd love\b|"
    r"\bfeature request\b|\bplease add\b|\bshould\b|\badd (?:a|an|the|support|more)\b|\bsuggest"
)
_QUESTION = re.compile(
    r"[?？]\s*$|^\s*(?:how|what|why|where|when|is there|are there|can i|can we|do you|does it|"
    r"怎么|如何|为什么|为啥|是否|有没有|能不能|可以.*吗|.*吗$)"
)
_COMPLAINING_QUESTION = re.compile(
    r"^\s*(?:为什么|为啥|凭什么)|为什么(?:这么|总是|老是|又|一直|还是)|怎么(?:这么|总是|老是|又|一直|还是)|为啥(?:这么|总是|老是|又)|"
    r"^\s*why (?:is|does|do|are|can't|cannot|won't|doesn't|isn't|aren't|on earth)\b|"
    r"\bwhy (?:is|does|do|are) (?:it|this|the \w+) (?:so|always|still|never)|\bwhy (?:can't|cannot|won't|doesn't)"
)

# Complaints without a sentiment word: defect reports ("never loads", "keeps logging me out",
# 收不到, 对不上, 等了十分钟才…), things that take too long, extra work; and a few positive turns.
_EN_PATTERNS = [
    (re.compile(p), w)
    for p, w in (
        (
            r"\b(?:doesn't|does not|don't|do not|didn't|did not|won't|will not|can't|cannot|"
            r"couldn't|could not|isn't|is not|aren't|wasn't|never|not|cant|dont|doesnt|didnt|"
            r"wont|isnt|wasnt|couldnt|nothing)(?: \w+)? (?!\w+ (?:\w+ )*without\b)(?:work|load|open|"
            r"save|sync|show|display|update|export|import|respond|connect|send|arrive|come(?!s? close)|appear|"
            r"refresh|finish|complete|match|fit|resize|print|download|upload|render|start|run|"
            r"function|answer|reply|respond|help|fix|get back|login|log in|sign in|exist|figure|find|"
            r"see|tell|understand|access|edit|change|delete|create|share|view|filter|sort|make sense)\w*",
            -0.6,
        ),
        (r"\bkeeps? (?:on )?(?!getting better|improving)\w+ing\b|\bkeeps? \w+ing me\b", -0.5),
        (
            r"\bused to be (?:good|great|better|fast|faster|reliable|nice|easy|simple|the best)\b",
            -0.8,
        ),
        (
            r"\b(?:not|n't) (?:as|that|so) (?:\w+ ){0,2}?(?:hard|difficult|complicated|bad|slow|confusing|expensive|complex|painful|scary)(?: as\b|$)",
            0.6,
        ),
        (
            r"\bwait(?:ed|ing)? (?:for )?(?:over |almost |nearly )?(?:\w+ )?(?:days|hours|weeks|months)\b",
            -0.6,
        ),
        (r"\b(?:days?|hours?|weeks?) behind\b", -0.5),
        (r"\b(?:is|are|was|were) not\s*$|\bnot so much\s*$", -0.6),
        (
            r"\bnot what (?:we|i) (?:were|was) (?:promised|told|sold)\b|\bnot what (?:we|i) (?:expected|paid for|signed up for)\b",
            -0.6,
        ),
        (r"\b(?:stopped|stops) \w+ing\b", -0.6),
        (
            r"\b(?:takes?|took|taking)(?: me| us)? (?:about |almost |over |more than |nearly )?(?:a (?:full )?minute|minutes|\d+ (?:seconds|secs|minutes|mins))\b(?! to (?:set|get|learn))",
            -0.4,
        ),
        (r"\bwhen it (?:works|loads|doesn't crash)\b|\bif it works\b", -0.5),
        (
            r"\bwish\b[^.!?]*\b(?:faster|quicker|easier|cheaper|simpler|better|more reliable|worked|would work)\b",
            -0.5,
        ),
        (
            r"\bneeds? (?:a lot of |some |more |serious |major )?(?:work|improvement|improvements|fixing|polish|attention)\b",
            -0.6,
        ),
        (
            r"\bthere(?:'s| is) no (?:way|option|button|setting|easy way)\b|\bno (?:option|button|setting) (?:to|for)\b",
            -0.4,
        ),
        (
            r"\b(?:should|needs? to|has to) be (?:easier|faster|simpler|clearer|more intuitive|better)\b",
            -0.3,
        ),
        (
            r"\b(?:easy|simple|quick) to (?:set up|setup|use|learn|understand|navigate|get started)\b|\blove (?:how|that)\b|\bmakes? (?:it|things|my job|life) (?:so )?(?:easy|easier|simple)\b|\bhelps? (?:us|me|our team)\b|\b(?:great|perfect) for\b|\bexactly what (?:we|i) (?:needed|wanted)\b|\b(?:does|gets) the job(?: done)?\b|\bdoes what it says\b|\bso far so good\b",
            0.5,
        ),
        (
            r"\b(?:better|faster|cheaper|easier|simpler|nicer|more reliable) than (?:you|yours|this (?:tool|product|one))\b",
            -0.6,
        ),
        (
            r"\b(?:every (?:single )?time|each time|all the time|constantly|again and again|over and over|yet again)\b",
            -0.4,
        ),
        (
            r"\bstill (?:waiting|nothing|broken|missing|not|no|slow|buggy|doesn't|can't|haven't|hasn't|isn't|wrong)\b",
            -0.5,
        ),
        (r"\b(?:had|have|has|having) to\b", -0.3),
        (
            r"\b(?:takes?|took|taking)(?: me| us)? (?:ages|forever|hours|days|a day|a week|a while|weeks)\b",
            -0.5,
        ),
        (
            r"\b(?:took|takes?)(?: me| us)? (?:\d+|several|many|two|three|ten|twenty|forty) (?:hours|days|weeks)\b|\b(?:took|takes?)(?: me| us)? [1-9][0-9]+ minutes\b",
            -0.3,
        ),
        (r"(?:^|\bit |\bnow |\bthat )works(?: now| again| fine| well| great| perfectly)?\s*$", 0.4),
        (r"\bcould (?:be|have been) (?:a lot |much |way |so much |far )?better\b", -0.8),
        (r"\b(?:would|will) never (?:switch|leave|go back)\b|\bnot going anywhere\b", 0.5),
        (
            r"\btoo (?:many|much|few|little|low|high|short|long|small|tiny|big|late|often|hard|complicated|expensive)\b",
            -0.5,
        ),
        (
            r"\b(?:wrong|incorrect|inaccurate|out of date|outdated|duplicates|duplicated|twice|silently|impossible|hidden|unfinished|fiddly|thin|flaky|no way to|makes no sense|nobody|no one|don't match|doesn't match|non-existent|nonexistent|zero (?!downtime|issues|problems|bugs|complaints|errors|outages|crashes)\w+|logs? me out|kicked out|bounced|cuts? off|drops?|dropped|lost|waiting|asking for|nothing matches|nothing in between|broke|breaks)\b",
            -0.4,
        ),
        (
            r"\b(?:in (?:a few |two |\d+ )?minutes|without help|without any help|never looked back|not going back|above and beyond|couldn't be (?:simpler|easier|better|happier)|could not be (?:simpler|easier|better|happier)|can't live without|couldn't (?:run|live|do) (?:\w+ )*without|relies on|rely on|exactly what|saved (?:us|me|my)|hands down|ftw|rocks?|slaps|lifesaver|worth every)\b",
            0.6,
        ),
    )
]
_ZH_PATTERNS = [
    (re.compile(p), w)
    for p, w in (
        (r"(?<![差了对])[\u4e00-\u9fff]不(?:到|了|上|出|动|开|清|懂|起来|进去|全|准|对|见)", -0.6),
        (
            r"对不上|对不起来|不一致|不生效|不显示|不更新|不同步|不保存|不回|答非所问|不见了?|不让",
            -0.5,
        ),
        (
            r"没(?:有)?(?:解决|恢复|修|修好|回|回复|发|反应|响应|人|动静|下文|通知|提醒|同步|保存|生效|显示|更新|用)",
            -0.5,
        ),
        (r"(?:等|花|用|弄|找|搞)了?[^，。,.!?]{0,8}才", -0.5),
        (
            r"(?:还得|又得|又要|还要|得手动|要手动|只能手动|只好|每次都要|都要重新|要重新|得重新|重新找|自己摸索|绕来绕去)",
            -0.4,
        ),
        (
            r"又(?:断|出|崩|挂|卡|报错|丢|坏|慢|不行)|断了|断掉|经常断|常常断|老是断|死机|当机|掉线",
            -0.6,
        ),
        (
            r"(?<!没有)(?<![没不])太(?!多(?:了|的)?$)(?!棒|好|赞|爽|强|厉害|方便|牛|给力|喜欢|感谢|谢谢|满意|快|酷|美|漂亮|省|值|贴心|专业|及时|实用|好用|顺)[\u4e00-\u9fff]",
            -0.5,
        ),
        (
            r"有待(?:加强|提高|改进|改善|优化|提升)|要优化|需要优化|得优化|负担不起|劝退|误导|天书|清空|不愿意用|没人用|用不到|效率太?低",
            -0.5,
        ),
        (r"比(?:你们|贵司|这个|你家)[^,，。]{0,6}(?:强|好|快|便宜|方便|灵活|稳定|专业)", -0.6),
        (
            r"(?:弄|搞|花|折腾|用|等)了(?:整整)?[一两二三四五六七八九十几好半]+(?:个)?(?:天|周|星期|月|小时|钟头)",
            -0.5,
        ),
        (r"(?:要|得)等|等了?(?:[一两三四五六七八九十几半]+|\d+)(?:个)?(?:分钟|秒|小时|天)", -0.5),
        (r"每次[^,，。]{0,8}都(?:要|得|会)", -0.5),
        (
            r"(?:老是|总是|经常|动不动就|时不时|隔三差五)(?:自动)?(?:退出|掉|断|卡|崩|闪退|报错|失败|出错|丢|重启|弹|转圈|加载)|自动退出",
            -0.6,
        ),
        (r"帮(?:我们|我|忙)(?:解决|排查|处理|搞定|搞掂|找到|修好|恢复)", 0.5),
        (
            r"一下就|就摸熟|就熟悉|就上手|就搞定|就搞掂|很顺利|顺利|没话说|没得说|大推|真香|yyds|好东西|良心|终于可以|终于能|省了|省下",
            0.6,
        ),
    )
]

CHURN_WEIGHT = 0.6
DEFECT_WEIGHT = 0.4
MIXED_MIN = 0.45
MIXED_RATIO = 0.35
CONTRAST_AFTER = 1.2  # the clause after 但是/but and those following it
CONTRAST_BEFORE = 1.0
LABEL_MIN = 0.3


class Sentiment:
    """The positive and negative evidence of a text and its label."""

    __slots__ = ("clauses", "label", "negative", "positive", "score")

    def __init__(
        self,
        positive: float,
        negative: float,
        clauses: list[tuple[str, float, float]] | None = None,
    ) -> None:
        self.positive = positive
        self.negative = negative
        # each clause with its weighted positive and negative evidence
        self.clauses = clauses if clauses is not None else []
        self.score = max(-1.0, min(1.0, (positive - negative) / (positive + negative + 0.5)))
        if (
            positive >= MIXED_MIN
            and negative >= MIXED_MIN
            and min(positive, negative) >= MIXED_RATIO * max(positive, negative)
        ):
            self.label = "mixed"
        elif self.score >= LABEL_MIN:
            self.label = "positive"
        elif self.score <= -LABEL_MIN:
            self.label = "negative"
        else:
            self.label = "neutral"


def clauses(text: str) -> list[tuple[str, str]]:
    """The clauses of a text with the punctuation that ends each ("" when none); a contrast
    word (但是, but, …) starts a new clause."""
    out: list[tuple[str, str]] = []
    for match in _SENTENCE.finditer(text):
        body, ending = match.group(1), match.group(2)
        if not body.strip() and not ending:
            continue
        parts = [part for part in _CONTRAST_SPLIT.split(body) if part.strip()] or [body]
        out.extend((part, "") for part in parts[:-1])
        out.append((parts[-1], ending))
    return out


def analyse_sentiment(text: str, churn_intent: bool = False, defect: bool = False) -> Sentiment:
    """The sentiment of a cleaned, lower-cased, Simplified text; meaning to leave
    (`churn_intent`) counts as negative evidence, and so does a defect report (`defect`: the
    text names a bug, an error, an outage) when nothing else in it is positive."""
    positive = 0.0
    negative = CHURN_WEIGHT if churn_intent else 0.0
    requested = False
    any_request = False
    for value in _symbol_hits(text):
        if value > 0:
            positive += value
        else:
            negative -= value
    parts = clauses(_EMOTICON_HITS.sub(" ", text))
    any_request = any(_REQUEST.search(clause) for clause, _ in parts)
    contrast_at = -1
    evidence: list[tuple[str, float, float]] = []
    for index, (clause, _) in enumerate(parts):
        if _CONTRAST_START.match(clause):
            contrast_at = index
    for index, (clause, ending) in enumerate(parts):
        weight = 1.0
        if contrast_at >= 0:
            weight = CONTRAST_AFTER if index >= contrast_at else CONTRAST_BEFORE
        if _CONCESSION_START.match(clause) and (index == 0 or not _CONTRAST_START.match(clause)):
            weight *= 0.6  # "though" opening a later clause is a contrast, not a concession
        exclamations = ending.count("!")
        if exclamations:
            weight *= 1.4 if exclamations > 1 else 1.2
        questioning = "?" in ending or bool(_QUESTION.search(clause))
        complaining = bool(_COMPLAINING_QUESTION.search(clause))
        requesting = bool(_REQUEST.search(clause)) or (
            # a wish goes on after a comma: 希望报表可以加批注，方便说明原因
            index > 0 and parts[index - 1][1] in (",", "") and requested
        )
        requested = requesting
        pos, neg = _clause_evidence(clause)
        if any_request and THANKS_ONLY.match(clause):
            pos = 0.0  # "please add X, thanks": politeness around a request, not praise
        if complaining:
            neg = neg * 1.2 + 0.3
            pos *= 0.3
        elif requesting:
            pos *= 0.1
            neg *= 0.5
        elif questioning:
            pos *= 0.5
            neg *= 0.6
        positive += pos * weight
        negative += neg * weight
        evidence.append((clause, pos * weight, neg * weight))
    if positive and _sarcastic(text, negative > 0 or bool(_AGAIN.search(text))):
        negative += positive  # "Oh great, the export broke again": the praise is the complaint
        positive = 0.0
        evidence = [(clause, 0.0, pos + neg) for clause, pos, neg in evidence]
    if defect and positive < DEFECT_WEIGHT:
        negative += DEFECT_WEIGHT
    return Sentiment(positive, negative, evidence)


# Sarcasm: cues that turn praise into its opposite on their own ("love that for me", "new
# record", "said no one", "another outage, another…"), and openings that do so only beside a
# complaint and without a contrast ("Oh great, …", "Great, logged out again", "Wow, only …").
_SARCASM = re.compile(
    r"\blove that for (?:me|us)\b|\b(?:new|personal) record\b|\bsaid no one\b|"
    r"\bthanks for nothing\b|\banother \w+, another\b|\bwhat a (?:joy|treat)\b|呵呵"
)
_SARCASM_OPENING = re.compile(
    r"^\W*(?:oh,? (?:great|joy|wonderful|fantastic|perfect|good|nice|brilliant|cool)|"
    r"(?:great|perfect|fantastic|wonderful|brilliant|awesome|lovely|cool)\s*[,.!]|"
    r"wow,? (?:only|just)|yeah,? (?:sure|right)|sure,)|"
    r"\bagain[.!]+ (?:great|fantastic|brilliant|awesome|perfect|wonderful|lovely|love it|nice)\b|"
    r"\b(?:very|so|super|really) helpful\W*$|,\s*really\W*$|"
    r"^\W*thanks for the (?:update|upgrade|redesign|new version)\b|"
    r"^\W*(?:谢谢|感谢|多谢)(?:你们|贵司)?的?新?(?:更新|升级|改版)|(?:真|好)(?:厉害|棒|行|牛)\W*$"
)
_AGAIN = re.compile(r"\bagain\b")
_CONTRAST_WORD = re.compile(r"\b(?:but|however|though|although)\b|但|不过|可是")


def _sarcastic(text: str, complaint: bool) -> bool:
    if _SARCASM.search(text):
        return True
    return complaint and not _CONTRAST_WORD.search(text) and bool(_SARCASM_OPENING.search(text))


def _clause_evidence(clause: str) -> tuple[float, float]:
    positive = negative = 0.0
    for pattern, weight in _ZH_PATTERNS if HAN_CHAR.search(clause) else ():
        if pattern.search(clause):
            if weight > 0:
                positive += weight
            else:
                negative -= weight
    for pattern, weight in _EN_PATTERNS if _LATIN.search(clause) else ():
        if pattern.search(clause):
            if weight > 0:
                positive += weight
            else:
                negative -= weight
    for value in _zh_hits(clause):
        if value > 0:
            positive += value
        else:
            negative -= value
    for value in _en_hits(clause):
        if value > 0:
            positive += value
        else:
            negative -= value
    return positive, negative


def _symbol_hits(text: str) -> list[float]:
    """Emoji and emoticons of the whole text; a run of the same one counts a little more than
    one (😡😡😡), never more than twice."""
    counts: dict[str, int] = {}
    for match in _EMOJI_HITS.finditer(text):
        counts[match.group(0)] = counts.get(match.group(0), 0) + 1
    for match in _EMOTICON_HITS.finditer(text):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return [EMOJI[symbol] * min(2.0, 1.0 + 0.25 * (count - 1)) for symbol, count in counts.items()]


def _zh_hits(clause: str) -> list[float]:
    values: list[float] = []
    for match in _ZH_HITS.finditer(clause):
        weight = ZH_LEXICON[match.group(0)]
        if weight == 0:
            continue
        if match.group(0) == "好" and _ZH_HITS.match(clause, match.end()):
            continue  # 好 before another sentiment word is a degree adverb: 好烦, 好方便
        prefix = clause[max(0, match.start() - 12) : match.start()]
        negated = _ZH_NEGATED.search(prefix)
        degree = _ZH_DEGREE_END.search(prefix)
        factor = _ZH_DEGREE[degree.group(1)] if degree else 1.0
        if negated:
            strong = bool(_ZH_STRONG.match(negated.group(0)))
            weight = _negate(weight, strong)
            factor = 1.0
        values.append(weight * factor)
    return values


def _negate(weight: float, strong: bool) -> float:
    if weight > 0:
        return -weight * (0.9 if strong else 0.75)
    return -weight * (0.8 if strong else 0.4)


def _en_hits(clause: str) -> list[float]:
    words = [stem(w) for w in _EN_WORD.findall(clause.replace("’", "'"))]
    values: list[float] = []
    index = 0
    last_hit = -1
    while index < len(words):
        for length in range(min(_EN_LONGEST, len(words) - index), 0, -1):
            key = tuple(words[index : index + length])
            weight = EN_LEXICON.get(key)
            if weight is None:
                continue
            if key == ("like",) and not _liking(words, index):
                weight = 0.0
            if weight != 0 and length < 3:
                weight = _en_context(words, index, last_hit, weight)
            if weight != 0:
                values.append(weight)
            last_hit = index + length - 1
            index += length
            break
        else:
            index += 1
    return values


THANKS_ONLY = re.compile(r"^\s*(?:thanks|thank you|thx|ty|cheers|谢谢|感谢|多谢|谢了)\W*$")
_IRREALIS = frozenset(["would", "could", "should", "it'd", "wish", "hope", "if"])


def _liking(words: list[str], index: int) -> bool:
    """ "like" as a verb of liking (I like, we really like), not "looks like"."""
    before = words[max(0, index - 2) : index]
    return any(
        word in ("i", "we", "they", "really", "do", "would", "'d", "team", "user")
        for word in before
    )


def _en_context(words: list[str], index: int, last_hit: int, weight: float) -> float:
    factor = 1.0
    start = max(last_hit + 1, index - 3)
    if weight > 0 and (
        _IRREALIS.intersection(words[max(0, index - 3) : index])
        or words[max(0, index - 3) : index] == ["use", "to", "be"]
    ):
        return weight * 0.1  # "would be cool", "used to be good": a wish or the past, no verdict
    for position in range(index - 1, start - 1, -1):
        word = words[position]
        if word in _EN_NEGATORS or word.endswith("n't"):
            single = words[position + 1 : position + 3] in (["a", "single"], ["one", "single"])
            return _negate(weight, word in _EN_STRONG_NEGATORS or single)
        if position == index - 1 or (position == index - 2 and words[index - 1] == "bit"):
            factor = _EN_DEGREE.get(word, factor) if factor == 1.0 else factor
    return weight * factor
