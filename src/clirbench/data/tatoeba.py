"""Tatoeba (LASER test set, Artetxe & Schwenk 2019): up to 1,000 sentence pairs X-English, 112 X.

A bitext retrieval task: a query is a sentence, its relevant documents are its translations.
"xx-en": the foreign sentences are queries, the pool is the English side of every selected
language; "en-xx": the English sentences are queries, the pool is the foreign side of every
selected language (each document in its own language); "both": each translation cluster
(below) goes one of the two ways, chosen by a seeded coin, so no sentence is ever both a
query and a document (otherwise every query would find its own copy in the pool).

Duplicates.  The same English sentence recurs across the language files (about 11,700 of the
69,000 distinct English sentences are in more than one file; within one file the published
files hold no duplicates, but the code does not rely on that).  A pool with two identical
documents, one relevant and one not, would score a ranking of two indistinguishable texts
by chance, so sentences are deduplicated: one node per (language, text), texts compared
after NFC and whitespace normalisation, English nodes shared by all language files.  A node
keeps the id, text (and, for a foreign node, English translation) of its first occurrence in
(language, line) order; ids are f"tatoeba-{lang3}-{line:04d}-en" for English sentences and
f"tatoeba-{lang3}-{line:04d}-{lang3}" for foreign ones (line is 0-based in the file).  The
qrels are the published pairs lifted onto the nodes: a query's relevant documents are every
sentence it is paired with anywhere, all with relevance 1.  Identical texts in two different
languages stay two nodes (their language differs).

Splits.  Pairs sharing a sentence form a translation cluster (a connected component of the
pair graph); the split is drawn per cluster with `pooling.split_of` (keyed by the cluster's
smallest normalised English text), so a sentence and everything it translates to or from
is in one split, and a single pair (most clusters) gets a deterministic per-pair split.
`parallel_pairs` reports the same split per pair so alignment training can keep to "train".

Candidate groups and protocols.  In direction xx-en a sentence's candidate group is its
language (data-model code): a foreign query is in its language's group, an English sentence
in the group of every language file it is in (a shared sentence is in several). Protocol
"pooled" (the default) searches the English sentences of every selected language at once:
with 11 languages about 11x more candidates than each language file holds, among them
near-duplicates from other languages' files ("I don't know." beside "I do not know"), which
is harder than, and not comparable with, MTEB's Tatoeba bitext mining. Protocol "mteb"
reproduces MTEB's reading: direction xx-en, each sentence searches only its own language
file's English sentences (the dataset's candidate_pool is "group": every group is searched
as a collection of its own), and every pair is a test query (MTEB has no train/dev split),
so P@1 (top-1 correct) is MTEB's accuracy. Two files mapped to one data-model code (kzj
and dtp, both "dtp") form one group, so their queries search both files' English sentences.

Language codes.  Files use ISO 639-3; the data model uses the codes CLDR knows: CLDR's
canonical alias where it has one ("deu" -> "de", "cmn" -> "zh", "tgl" -> "fil",
"kzj" -> "dtp", which ISO merged in 2016), else the ISO 639-3 code itself when CLDR knows it
("kab", "yue"); ber, cbk, max, orv, swg and tzl have neither and are refused.
"""

from __future__ import annotations

import functools
import hashlib
import random
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from babel.core import get_global

from clirbench.core.datamodel import Dataset, dataset_from_rows
from clirbench.data.download import published_file
from clirbench.core.languages import base_language, is_known_language
from clirbench.data.document_pools import split_of

TATOEBA_COMMIT = "74bc6ae"
TATOEBA_URL = (
    "https://raw.githubusercontent.com/facebookresearch/LASER/{commit}/data/tatoeba/v1/{name}"
)
TATOEBA_SHA256 = {
    "tatoeba.afr-eng.afr": "7bb9e073ad8422d6bfdec7c9ebdcef8ac486e72b237200e447923a8b921a0a56",
    "tatoeba.afr-eng.eng": "0b700c125efb4030b4cc50d9d765d5884afc24f39296f29b028a1b2a8512034f",
    "tatoeba.amh-eng.amh": "ffd4b09d5d677313e82bb15e557e722d6585d0d5ac81c47dc10690d6ce8e2d8f",
    "tatoeba.amh-eng.eng": "37fe0d20ece58309ab74c605aa571b4f9a78c7de6825266aa981fbdc54aa9f92",
    "tatoeba.ang-eng.ang": "f489d684ff088a0d0d39aef37c442fd2e654c0b1ec82e26e52967f9d25a4f38d",
    "tatoeba.ang-eng.eng": "b5c9ac7e664dd2b0c8c27d02998df34a0302a79c672b43dc01313e94435d173f",
    "tatoeba.ara-eng.ara": "e67a0ae072b79cd9e8eb09f166c3bc0b23488d39f5720f2ee0a8350ae17b719f",
    "tatoeba.ara-eng.eng": "3c11838c963f598a52dcf2f452b666353538257001db5c59c3a5f54a999b336b",
    "tatoeba.arq-eng.arq": "cf0b5fc39a19e328f2b491e9458667756a95184aa6f04535d544fd6f7748f16d",
    "tatoeba.arq-eng.eng": "207118ea873a514901f3efa70d904cc1936b6d5cf355bca4a78b3de8b4fbc816",
    "tatoeba.arz-eng.arz": "49e2a2a33eda3b0fe46f073880b17f2d6f1dac24b59386a82ae3567d6cca56da",
    "tatoeba.arz-eng.eng": "08b5b66d6b0f76572cca7aa8895adafcf169f1a3d3ee096320c6c6a0e42dc3ae",
    "tatoeba.ast-eng.ast": "6e2106cdff0105dc4385129d98cc64074272e00ea68f130417e8d0fde87b01ba",
    "tatoeba.ast-eng.eng": "a2ee8eefb796fae9ae2f3ec9407684a41f3df08794eb72a0c1cbdedf93be4796",
    "tatoeba.awa-eng.awa": "c9c7fcb5a3f2efec0ff7f1729567c0a4d407d9354bfc3afa90f1ec590677a719",
    "tatoeba.awa-eng.eng": "d9898a996db3edd7554f8bb3f6f771e608814eaa7d899d10303e6828d2a81912",
    "tatoeba.aze-eng.aze": "b0daccaaebeaa60ad24dcf42597a93afd238d8c263618db7c5ed6babe7d663e6",
    "tatoeba.aze-eng.eng": "7c428a247940252ddf75ee6de0172dc1cb6df922e7382412fc330590084c20a9",
    "tatoeba.bel-eng.bel": "f474ca183685978017e7fb7ee71a018c15b2d64c988c27093c73f9fb24e653b6",
    "tatoeba.bel-eng.eng": "e34d5dffdc15cb276aeecc5463ab7ab78dc1be86d9024b13133cd520979a1ea6",
    "tatoeba.ben-eng.ben": "ac3385695d6a6c7e5d18e38ad4b8b7d3780f3df23dd0ff3f539071b8269a8613",
    "tatoeba.ben-eng.eng": "67fbe75fec549d436c3356b6d6f8dd53179b6a908661b5d507d28c7fee83350e",
    "tatoeba.ber-eng.ber": "cfa3f8751c0944ab9b2a1420918b04fcf8857128bfeae8fe7e7e8f4fc55ac7f0",
    "tatoeba.ber-eng.eng": "70d5d8d83c199592558ae6df3462ed8c69ae4c63c74b9bab33e02708395a9b5e",
    "tatoeba.bos-eng.bos": "66f1cf9d092598419973754da7de54c215b816803536687c44781e2db83936bb",
    "tatoeba.bos-eng.eng": "cabfe870a406cad383d13f927ab1595a96a51b76b1213f5ba2b93628d5e1346a",
    "tatoeba.bre-eng.bre": "1d7f931af5e47f7a8a690992419a263706643f5fb7820ebbdb88ad4232d88475",
    "tatoeba.bre-eng.eng": "41979358a546813c1db3e0fca675a06d394e97e389eb1943a7831c8dde966cd9",
    "tatoeba.bul-eng.bul": "f9fa90cf3599d8c87f7a6ed22f5d648e3ce6687c705656a8c8ea088d891f79d5",
    "tatoeba.bul-eng.eng": "4b03b3b52ffb7cf4286e0c4453c90910a3021546f160bdf0e4d39d1f45bfbc0b",
    "tatoeba.cat-eng.cat": "512c42703dc6ff6c98ff1456c7a9d54d6eb4be4f4b4bf441fa27ca1dd30ecc55",
    "tatoeba.cat-eng.eng": "84cce1bb2e1feb81b3d50a3cc7199a2e94517d16f3091ef5d94b1d079ce3a61d",
    "tatoeba.cbk-eng.cbk": "912143ae56184420e5c158e93c2caaf0056c2ffaf1e7cf85dce0b5d1c7015def",
    "tatoeba.cbk-eng.eng": "ef6d617bd806906d159e01fd3f884c64301add61032727351ab39621c27497de",
    "tatoeba.ceb-eng.ceb": "767be046e4361601a950c0d3a85831305c2d7c809f6f5786866d46b8111c4c4b",
    "tatoeba.ceb-eng.eng": "655d1001266ac56d17b6e459493ed9c84372cdfe8489f2f0b69949ae6aa4d1bf",
    "tatoeba.ces-eng.ces": "0ca1f07a72f547df79288f0c6a1642176009d0b878a75534ed018fe715946f6b",
    "tatoeba.ces-eng.eng": "ac195f54f697faaae84e9ea3e395c5c20c46d5b5bf97f4a9840fdfd2a6b183f0",
    "tatoeba.cha-eng.cha": "235129c1e28ae24d9ab582e5e25376572244cb15f46a1b886b262efaab54c36c",
    "tatoeba.cha-eng.eng": "0e5d75335a30f85833558c24fd11538b98eecd7d94e865d9e1a87845c3bb7a11",
    "tatoeba.cmn-eng.cmn": "965d033966fcd186c89741ad49ab4b0a0b2bbd33e02666635ff3b2be23c1ac1f",
    "tatoeba.cmn-eng.eng": "29ba36232488f5806aceccac57c59c5e750ddd08edb40eef417e3ada9ff9a239",
    "tatoeba.cor-eng.cor": "ffbbe24eabf47eb2b222c2352eb4ea12fd9e02aa4f137aacc6f087f30a78f76f",
    "tatoeba.cor-eng.eng": "8375121e5b98cbe867bdb1c12f2ce6e6764e7b789c2837489c0bab0ba6a9c776",
    "tatoeba.csb-eng.csb": "65348b9235480a70bba9a91c6b131149654b5589b0cab107d287a1c3b46d5662",
    "tatoeba.csb-eng.eng": "89260657ab4b2249d21a944ba83641933ff79be910fa86351bcd2026defbc8cc",
    "tatoeba.cym-eng.cym": "9b39ea9bd8088c7636731690eca89c5198efaea51152d6b16aad4b5b7347f50f",
    "tatoeba.cym-eng.eng": "6b78a8e6537e177e13b9d79d8997869d559bba89845fed99db361d28425fdd42",
    "tatoeba.dan-eng.dan": "8d8b3c0d8156532ca81a11e5e12c7782e6beb9e29db3f40e46ddcf963dcae650",
    "tatoeba.dan-eng.eng": "5fee23e7bf54881082ce98d1b68b885566f45fa5ecce65f4611ca79412deeae7",
    "tatoeba.deu-eng.deu": "edfa6f75a42554df388f45891735d5e4214158a99def4b73b5908af4a3054551",
    "tatoeba.deu-eng.eng": "eb9cc83a42f2c4b22f310d05311207e41abb56c2a084666cac3ee0f84d2d0b84",
    "tatoeba.dsb-eng.dsb": "cb328fa5948d7d9394fbf3695fb7d0dfd12ce3f21082741fb9010923b0ada8f7",
    "tatoeba.dsb-eng.eng": "3aa1d341d875496f36a6f270cef8fe185c2ecbeefe568d0b9e5a099fb2629db9",
    "tatoeba.dtp-eng.dtp": "d61a4559f6a0d251220a968e82697a36276cabee8c315c0b6f5aac72624a532d",
    "tatoeba.dtp-eng.eng": "1ada19a5e424e334b43e5748cbc96f81c85803959cff5fcdc695914020a5b90a",
    "tatoeba.ell-eng.ell": "4fb3d3d30bdafd15100dfad5c4680f8f2ed5ca87ed0a6122e2fe2aa21fee65e8",
    "tatoeba.ell-eng.eng": "1f630710e718e2f85a4e757d3c7f3d6e78ded0b25c99653b4c552138318d9ffe",
    "tatoeba.epo-eng.eng": "f446c78b332c9c7848d3f7e7637d0b486489d8537f9de51b6ec9ed8124f0725d",
    "tatoeba.epo-eng.epo": "a0f49a8402248a2334a332227fa841fead2c1c21c4c2ed30fd5e912256ba2f78",
    "tatoeba.est-eng.eng": "bb033b10596178452aecf2d97ad25580251375e7d224d8b38dad3d93d69b1e4f",
    "tatoeba.est-eng.est": "94856999ef35e5357502d7ecf50419d0108b99270e507d9c57f8b283bd1be9c5",
    "tatoeba.eus-eng.eng": "1e80f0174ad544697fd69ddcf21287ca10c5e3cacba2fc42bf1d68c460d14ba2",
    "tatoeba.eus-eng.eus": "4255fb70a6c268b09fcc59a9b308f0fcaaf45ef45e66fc55bf3c80eac4d8c97b",
    "tatoeba.fao-eng.eng": "5481a99b039b43ca87a7986294f4501a78b321b4e43c8c13d4f49342fa016bb9",
    "tatoeba.fao-eng.fao": "299abb1658b865ae6518f88f10ced23c13b3dc5063118899c457ab4e38d0829d",
    "tatoeba.fin-eng.eng": "322e610359f4d24852e673bbe4524d52c26dbf980aca0760e95c66dc21ecd504",
    "tatoeba.fin-eng.fin": "8db3c734f755d578445947f1182f40faf2a9a0eca37561dd248717c088802d60",
    "tatoeba.fra-eng.eng": "5634220f8a26a9a23b84753a9aec0b0832e6bdaa9da3f83e0bd84c928c3f46e3",
    "tatoeba.fra-eng.fra": "644172ff9642fefa9e41c29b7d6f44196518e84350dc44d4992e943c0cca92b6",
    "tatoeba.fry-eng.eng": "222ef1b50e42d6bc3a04c5e68a385969a205ad7d2f81a5a5def67572153a64f8",
    "tatoeba.fry-eng.fry": "2fc95443e777f6a8866241f024ac43e79ed07aa1e782a3efb13a66fc3d7866d8",
    "tatoeba.gla-eng.eng": "248f651a1c1717d456554d183ae3f85b304dbb62c477521f7aed585009ece93c",
    "tatoeba.gla-eng.gla": "58a3647950c07f9094777300c8b59520bfae2508fd4c5a57685367428529518d",
    "tatoeba.gle-eng.eng": "da1952830c7d7d899f146acbf96239b632cda6f84be44901fca3813523c8f45a",
    "tatoeba.gle-eng.gle": "d5f33fb7a98aa616141bb74647b8856559bf9ec2e8346e0e88449d50709ab603",
    "tatoeba.glg-eng.eng": "509066bbb1631f8ac0c261bab6c340ccaf54e60cc88a07259543f0fa0ec439a6",
    "tatoeba.glg-eng.glg": "b165fd7ca25343381c63a2f0caf06df57f12797e818e550a2bbcb7928cae7d4a",
    "tatoeba.gsw-eng.eng": "dafa199e25bfbc0f5d6ca5b514753f9d3de9353b1979d54184ee6a93877edca7",
    "tatoeba.gsw-eng.gsw": "6007a6e277321ea9ed1f1cf50048c6e28d4817dc004ac881e857c42e132679b2",
    "tatoeba.heb-eng.eng": "73c27ed0f76c1d2da199230f05489749e10bb67ab879c6dfee8ca9807d6bd99c",
    "tatoeba.heb-eng.heb": "4a07ca4b8a6fb7ab499791573a2454730f47acbe209359d7b9372a9f6094a102",
    "tatoeba.hin-eng.eng": "adfce2269a55dbac69b25c0f4f6eb89e0f9383165485925a2e042e61b9480562",
    "tatoeba.hin-eng.hin": "15e4fb0a394be4438319f1d6955d1aea226e2a8c5ad38798b23b76ae43d742ed",
    "tatoeba.hrv-eng.eng": "e937275feb38147918190ba2c294f31c18b77df9d3450dce245e33a57fdc94b6",
    "tatoeba.hrv-eng.hrv": "be6bb15973e3c8ebd23584e8867bc5182b390403575d62c78d6c42b5e7b92fcf",
    "tatoeba.hsb-eng.eng": "9bc9399674d901253186bdc542c6c7a798b55fd76e61950f3e93a709e00d9ccc",
    "tatoeba.hsb-eng.hsb": "05ddb2c8866c51091955609b8ec60da073c9e94ba948f8d2d9320e8403bef52f",
    "tatoeba.hun-eng.eng": "5323266e91ddee67ed1ae00d6bbac0cdf3d37749d1b2da3459bf0d424bc71383",
    "tatoeba.hun-eng.hun": "56bd0682be8c1db6568313650b3310d641cc8d0019d12dd7caf201302350eeac",
    "tatoeba.hye-eng.eng": "f95ae935c26ab7abf946cada0558ab445a902b87e3dba6979bf624f7480b0d87",
    "tatoeba.hye-eng.hye": "5030d8ad769e6fd15612a9a6af7be51ae9d6c262820c1d6734bfe53b883ae9f2",
    "tatoeba.ido-eng.eng": "d16dc2e53deeaa0f697395a66d27fe20846e999c1545fbc742c6ce512c3fa6c7",
    "tatoeba.ido-eng.ido": "6751b92a655f6324894efd667e9f1736fc31a5b9459e54af77e10d22df23810d",
    "tatoeba.ile-eng.eng": "5743127146b2cc8b07a283d8ae9b504fff0dc04b86d03690883fb8f60bbc9e7f",
    "tatoeba.ile-eng.ile": "a5e4f9304110c7b9eda5833e1801f1563bdcd042e56a6e9fa3f84b0553bbb397",
    "tatoeba.ina-eng.eng": "a71b750144c5a6e6c199c4fb97f452628b4f6263b65aa44bab7a8f20fb6f83c5",
    "tatoeba.ina-eng.ina": "f4f5952c0b009dafe02ac4b393bd21c250b6662f2e6ebe9f3a6e4589c07746ca",
    "tatoeba.ind-eng.eng": "62a3f5127b60eb3526b8fa3994a68fa1a1f114f3a395307a8808a3517c05ffc5",
    "tatoeba.ind-eng.ind": "4f03cd70cba071f746eacd3ebf6b60fd5a8377ce18b4cc52edec6721f05f352a",
    "tatoeba.isl-eng.eng": "3e12960758a3892f46933413e7dfc88a8803773e68393ab2a0884078c3d18edb",
    "tatoeba.isl-eng.isl": "fd0ba00d801bc40b94f6f013d09eae32a3bf2aa0af5f8a52d27a17b3eccb662a",
    "tatoeba.ita-eng.eng": "738bf8f981e42d285f4f08bc09238782d285b02050e6e95287aa4e998bb7b24b",
    "tatoeba.ita-eng.ita": "9b3f369d0ed92273b46dd3b983721636e3d15024ce7125f5103229249c386d26",
    "tatoeba.jav-eng.eng": "172776353690f6c047ea21da969fa6979980d692fff1cfbac17eb25851423760",
    "tatoeba.jav-eng.jav": "ad88399db8f94c2a040aa53e7e862225964fac9308a3beb3d5b38f3eca2f827f",
    "tatoeba.jpn-eng.eng": "b42129b34e1bf225ccc25fc00e532a6113af98adbc6605b93021bd8aadeb68b6",
    "tatoeba.jpn-eng.jpn": "56040bd6949170a631039d9f8f4c6440db8761b0065c9686feba55c99a320d46",
    "tatoeba.kab-eng.eng": "f4e9d9e6d6e3eba1b05a22fde860229a8fb57178d2920a844b1220264a552769",
    "tatoeba.kab-eng.kab": "a912470ad96c83615509e98716bd6665413a7936fa54ae6e867b78a800f9574f",
    "tatoeba.kat-eng.eng": "d70a14aa64fd7c6b545f11aea754a632e1cbecb91af27fcf6a98a8449a48a8e7",
    "tatoeba.kat-eng.kat": "6ef69b5efbf355597ed91eb355b33a5f524bdf0875dbeaaccf6375badc20e29b",
    "tatoeba.kaz-eng.eng": "0ab684e7032c6520540d5785adf00ef206d097221d0dd4dc9bcaabd64068e10d",
    "tatoeba.kaz-eng.kaz": "f20c682582a80b6aa10f3b933db93bc314449b554ce611e263bc75990b319aef",
    "tatoeba.khm-eng.eng": "fea8fabec26410635a7e7f6cddebf57d2386a6db206aa8e35d1cefd15dd148d2",
    "tatoeba.khm-eng.khm": "45c41f8ea2f5ef385b28afe09865d47f98d98f3f381a6188a0b909a20c40116d",
    "tatoeba.kor-eng.eng": "f900cf3c9b72ed5a400e1804702863ff3df00be58eb060902e02285d0e68fab3",
    "tatoeba.kor-eng.kor": "e550c84184ec35b1a0dab3154284719511a21746e53c40f46eb6ab08179e9188",
    "tatoeba.kur-eng.eng": "7cec4358a4efaa87c9bba661b0a4bed5c0425ac0cf81359e16aaf9d9214a0ec8",
    "tatoeba.kur-eng.kur": "478b0fd516eb779a93476ac844d822c19fe208dff23231de0986ffe94bd3699a",
    "tatoeba.kzj-eng.eng": "23d41e6211b283f4bd3a8a273164daa66aed2276f947716fe28327cabda215ef",
    "tatoeba.kzj-eng.kzj": "94eaec42d55cdd0ecb4be21bfe5444b4f8b9610a14faeeefb3ffc97de802d1f8",
    "tatoeba.lat-eng.eng": "5d9982f67de2c230f98582dc86568478ff2a38757b0fdd7acb375fdda9945ca9",
    "tatoeba.lat-eng.lat": "dc8bf14fe0dbe88b9e1d57f524c42750d2e57ff63197975848d3834d6277ac57",
    "tatoeba.lfn-eng.eng": "de3b206d5dc1e207e9d6613636adde5a830b82b0957fa6e53160a30e54142182",
    "tatoeba.lfn-eng.lfn": "df11cbb84fc0c7da037676ecad3945a6356d4bef0b99e0b6c5e0e8ed402d6ac4",
    "tatoeba.lit-eng.eng": "5dfc3ef9437f0a8495f39249a1010237e7503ca6803fd6e73a2621b5165b79cc",
    "tatoeba.lit-eng.lit": "1fa3d054d66dae6ffa69e5d23e1860f17d6c32cee4bdc4c2eafe9b3c4a37a481",
    "tatoeba.lvs-eng.eng": "c380ec2f70065ff30fb1fc33ac2cb4f26c312e03ed289248d4198a838bf39964",
    "tatoeba.lvs-eng.lvs": "04032a8c22640a773e7ea482eab1ddde76952ed17df6c6bf172204a8ec91612e",
    "tatoeba.mal-eng.eng": "4d80cdbb844cd4e33f874e5dc45c1cdda4f80998034448f7eb56b8b6532a6622",
    "tatoeba.mal-eng.mal": "1a896f54f85a454fb0123864049c65921ae9dfd0cafda6deef8060f0104d965e",
    "tatoeba.mar-eng.eng": "709d09b697dca053c814b9d525b72cb47cb011aa860c6598f3e2b1b3dd1280dd",
    "tatoeba.mar-eng.mar": "b2931584fbe62062beb97cc939e4d208ace5ee56f15808860ab14e130fd3c576",
    "tatoeba.max-eng.eng": "7b8ca880b1b9920a9f1dccaf1dda41b50983a004d6b19a896e58de2d36a75064",
    "tatoeba.max-eng.max": "1b76deb555867c7f81715d926301a10e2ea8fd08afc259ec087b9208ba2b8f32",
    "tatoeba.mhr-eng.eng": "ee054454943169b7eebfc7d900d1de21a6dd5b268789f8ffe0d3c217e64c7a64",
    "tatoeba.mhr-eng.mhr": "a882b273da472c4ac7f1123897283a45868d05f4e8e909bb149654e733d2a269",
    "tatoeba.mkd-eng.eng": "0f6275c29c993ab1d6f78d0ae4978f9e765a1aad150ecb1f86f6ac50fa7e2641",
    "tatoeba.mkd-eng.mkd": "8dde3dc54e5bfda50d8a8a95a96b9841bb512b7f7f76a5e611c814a594c4e3ee",
    "tatoeba.mon-eng.eng": "f8a75164467fec93df5ac46687385029f760002aa2075df9167e8533fa883295",
    "tatoeba.mon-eng.mon": "559722662c36ba75caee0e6eb8e84e8f0c121a0ceea630804e55e8cd054fc184",
    "tatoeba.nds-eng.eng": "5c34dfa60d159f397994b5a28d9d6f231e2fd34143d5738133d951fe72005b3a",
    "tatoeba.nds-eng.nds": "87742c2dd6dc1761f3aa397b454e18a9ae3681512a239a66221c994b32ebc100",
    "tatoeba.nld-eng.eng": "3b8836749df573a53235b85ed6771f31bf2de428f520d2d6a1dd94b61b4ef057",
    "tatoeba.nld-eng.nld": "d564d4ce1c621ccaefdbe9f5cb08eacccc7bf2a0b58666303e84ca9c7973bdb7",
    "tatoeba.nno-eng.eng": "30a795ce448d6a18ad0378fd832f395e79e1a6427fec9c1b2fd470710368cd23",
    "tatoeba.nno-eng.nno": "5a1c185fe5e5626422ede3584a59afc64e0979285b144b1f89e8b4f82d04a850",
    "tatoeba.nob-eng.eng": "deedb3cebc89b59cff711966af077f941555f37782364a36716229ed1c4a7ebe",
    "tatoeba.nob-eng.nob": "0b67d741b2af35897ecd9d7370f8ddb9de115fe18fdd1357321d426eca2bc229",
    "tatoeba.nov-eng.eng": "7f3a5abd333843b8b47d11a56f13ddf983fb71419d84ce08b6092bf6a2c07926",
    "tatoeba.nov-eng.nov": "8877783074fea036066811e291d37974817af078ba295ef1e9a74a448b4d79f1",
    "tatoeba.oci-eng.eng": "a8b7e855fbcee46763922eeea7ddfe5100804b2d6cd064bcf3c7a34767939c7a",
    "tatoeba.oci-eng.oci": "2b21da72dbe09a642fb6729b77f2f9e4184ddb0fd3e6ce649ea46419e7a39db9",
    "tatoeba.orv-eng.eng": "7ebde69cccbf1b696f507e2b4f3b7f609f602e6c4eaa6896b9259b5c6e04d23d",
    "tatoeba.orv-eng.orv": "f2e50ada1fcdacfdbc72464c026808701e2e458e323b2416d8e99526e3009ba9",
    "tatoeba.pam-eng.eng": "40b46cdce45d38d849b3212f5fe241d35e89c2a2cd110c7d44ec1c817d3db1ab",
    "tatoeba.pam-eng.pam": "1e518a5ce369d9d587c5c850030c0fd2b97248f1cf99ecc2e082de5ac8965986",
    "tatoeba.pes-eng.eng": "b5c6cf8c8d93ff8f2fe26b53f3ee29b62db9c6f7dcddcb086ba48953f4ce926b",
    "tatoeba.pes-eng.pes": "f1553713723491fe5876e1060b18fb4abf0c77be3ba06db2e3307e83aedbbb32",
    "tatoeba.pms-eng.eng": "e9e88117fda8c06e2505aa776d8fb4b6b98139253b99228f08e0fc5317ce02ee",
    "tatoeba.pms-eng.pms": "78313c26a46876ec538cdd63cbb3991af66b0e8b861d43802bbde7cc3400f0dd",
    "tatoeba.pol-eng.eng": "d21cca6c6c28a9df7e8ecdc923672311ca3395241b58a5749b34854d6c65df8f",
    "tatoeba.pol-eng.pol": "93e1378a66dfc83fcab4cf115f3eaa2635b42648e4746478f83f71cc6291cbfd",
    "tatoeba.por-eng.eng": "deb4568cfb7b7cbbc060a7fe97c4639fb4680842f4fcd28df791ffdbb753855a",
    "tatoeba.por-eng.por": "b0c926a232c9889a87a1a970f9399c5618c2d95baf204321e9da794c0aec16f5",
    "tatoeba.ron-eng.eng": "1064c638220dc9de0868baee327e091ae815214674295b62b13448ef442c448d",
    "tatoeba.ron-eng.ron": "ad5c4a9f4920718203534d1f8271e27021b9af54b2c908dec66851d4dc681fd4",
    "tatoeba.rus-eng.eng": "7b26f52d6085b7c4944d6f5f6f5b6e1932085b42112f1444db515ce59e878fb8",
    "tatoeba.rus-eng.rus": "446ff2cae66053c2277d9735b2c2df6b786cae258385f7ade7bed68d8835c6a0",
    "tatoeba.slk-eng.eng": "3f2639abbbd80ccd015dcd86c0b1d5a3157e7af29d4c66ff94079bb78dfa7260",
    "tatoeba.slk-eng.slk": "7f8c6a3b47f44f03b9c61c9445dc3da13aac07b0f39e2dcfee8f81b30515a46b",
    "tatoeba.slv-eng.eng": "2acd8423aab2b78ef4b125edb17019e380a80059931139a9b2263296e489a4fb",
    "tatoeba.slv-eng.slv": "d5da94df8c2dc15c2d32236c16c48da458bd9569fc8009080587f1faf915b0ad",
    "tatoeba.spa-eng.eng": "89e4470f4572040b1ca94b3edad97dcd8bd2f0141f072e12933b8659dadf917d",
    "tatoeba.spa-eng.spa": "f9628cea40481e8251f0999718bd893cff0f261752f5e526b3bc20284e2ca018",
    "tatoeba.sqi-eng.eng": "3c6bb4206f56e0727337d60c0afc783ff393d027486b91536f20997ab13799d8",
    "tatoeba.sqi-eng.sqi": "8c21a43c425347993779a79b7ad8caa7c37edb85aa09f7146de4a150deaa1525",
    "tatoeba.srp-eng.eng": "1ca4b0be067cdb87e86d83b50590f00fcbc3932e3a1f29f316cc8e8de47e3f62",
    "tatoeba.srp-eng.srp": "cf94fd118b84a967eb5acbc1259e19dbf1fe0db5bfe7ae0258ee0a528d7e8209",
    "tatoeba.swe-eng.eng": "50fdff247854beaafdd5726ff6bb634278ea791abc4c68ca6072149da14dbf58",
    "tatoeba.swe-eng.swe": "9b2a15609f8c35b054f3b575c4e2a06812fee1c55e3ad96cdd03df85edc9bc9f",
    "tatoeba.swg-eng.eng": "d7390e0640b1b1fd873539d999e22a4d5c77f46e58a44a7f355177faee510b7f",
    "tatoeba.swg-eng.swg": "145d8b70802f68bbe787067e8c2dd7d070b348d1b8a3756cca5954adfb93b9ef",
    "tatoeba.swh-eng.eng": "e8539647caff9e329776ae863b6224d432923c6e4e9256b9df92ca58ff282eac",
    "tatoeba.swh-eng.swh": "1c672915446c336cc378676e6dbf91eb54d27bbfd0c61563d349265bc6374753",
    "tatoeba.tam-eng.eng": "e7c5106acdd100214a161970b2a5c31e7386e5b6a963e3d3afdf30412c90ac53",
    "tatoeba.tam-eng.tam": "bde87fb1ddedccf6c7a2b70ffdd19a959a573c113c2e7a041c4b623fb2170bde",
    "tatoeba.tat-eng.eng": "8c74036c1d7095e838c9631d965fbb6a3bb18044827a4e62a0e384bfe230dd48",
    "tatoeba.tat-eng.tat": "26bd52530c11448328aa52390daa9c21f8e69ac8381efec7be4fcd60ca152af1",
    "tatoeba.tel-eng.eng": "1efc2ef57d9b1ecebfc4baa45e86fd793e38473304e9c043aebabc3a1b29a294",
    "tatoeba.tel-eng.tel": "7e1a1bcd106cce650a09e2f042f1354b55b29bea2bcfa86554dfa0ad12ce8976",
    "tatoeba.tgl-eng.eng": "e7c9beda3f3072a968a34a7226a66d1ebf1dcb33cf002805dc752f80a7c620ae",
    "tatoeba.tgl-eng.tgl": "f99165dc05190b99f6574fe24db884ff85d111612a25e7a37323f001aafc2a6e",
    "tatoeba.tha-eng.eng": "2881c82d2c5fa59cf0a68bc9e012f5e0b0a716f7357cbecf77c247efc2fd7294",
    "tatoeba.tha-eng.tha": "65c7b3c01a56a1ac8971e72e0ea8e74a027718dc84044d8802c0ab36395a3156",
    "tatoeba.tuk-eng.eng": "e9050787bd9d36127fcb65f40f1577307299b07fae3f50f36125d91ac3483d4d",
    "tatoeba.tuk-eng.tuk": "de146697aea59ae38e83bdef4ebfa1e6c5479816f8d91b5de85eee3b7af80e8c",
    "tatoeba.tur-eng.eng": "a768df7dd3d1344f872a458b32c3a65e24f8381826ccb16ba6677426176c8121",
    "tatoeba.tur-eng.tur": "1ffa0acc006018b3105abda41a4d4ca42f3c122964a49b71793546367b079a86",
    "tatoeba.tzl-eng.eng": "66cdcc25669543143aa0bb5e32fbcb7af32fe9d08faf98f69bcc3dc7452f6059",
    "tatoeba.tzl-eng.tzl": "543d203fc3ab62b34230e4612152d2a8ec268b67c54fdff76028f95ba7a97ef5",
    "tatoeba.uig-eng.eng": "186b73449aca11da51c4757c6f98536a11f2ce5ff4d6f460e8d9fd405bc69387",
    "tatoeba.uig-eng.uig": "0d69dc4f7bea3b1fd9fb8d95a47885ae1893c7f4b6530afe3f049e1625313c17",
    "tatoeba.ukr-eng.eng": "f0df48c6911ca71b315a5df5a78438bda23129f375fe50dc7ebf6a0f66bd05e0",
    "tatoeba.ukr-eng.ukr": "7d11ce1654600e3a3a2a84ce06aff213e22903d9e75f9f5eec09f85ce85abf2a",
    "tatoeba.urd-eng.eng": "dab35fda3f73b3fd86b6b9f9f9f6242430961aa5d1ac247adbc646867df79cec",
    "tatoeba.urd-eng.urd": "2efc22dc61885a9454aeeee68c8b841c7f9138d53ba644a82308bd210140450b",
    "tatoeba.uzb-eng.eng": "2517369841286e4cf46c127037f6dad3748ef7490cdc9c8c5dcff05a96002264",
    "tatoeba.uzb-eng.uzb": "553247158454078f7501b4b8bbcaf9e713c23081c1b809e3f1e5fe6f8c1c1688",
    "tatoeba.vie-eng.eng": "a1f60bd8ae6c42224a4c050d2aa1ff4242d14827d64d7831e96ecf2b2c367f5f",
    "tatoeba.vie-eng.vie": "6dbb02d778b0bfc8678cd85f87db76de55dd7e409a26fe32ad42d50e0f1fff77",
    "tatoeba.war-eng.eng": "6e377e03ee29324220d84782bdc9198d350d0a96ab05dd3703c52115d4da8d8a",
    "tatoeba.war-eng.war": "3349a3c8c229b7e00b23a361fdfd3f049717541d0efdf1ab1aeb4e30f3abb2a0",
    "tatoeba.wuu-eng.eng": "576cbe9a76445f06c3a1c18094cb1810a3204ab20ece4fda952f5c13e66c4894",
    "tatoeba.wuu-eng.wuu": "72b3261f8acdcd6d10537e2631621e38ab1d40274c7eaf801651ad5960912b91",
    "tatoeba.xho-eng.eng": "88bc39204f332b486f81f24d5a38fda985debb9496c687b333c246dcfa4b23b6",
    "tatoeba.xho-eng.xho": "a98016214a4ecff2c85807c095f40fa966f85efa556ff3c6b97bbcde36337242",
    "tatoeba.yid-eng.eng": "d6c5c87e0a3d9b3193cfa7285862d6802ec540f8de63e5155b25812d6e2d4360",
    "tatoeba.yid-eng.yid": "cfbf9d77cb47278e6f29d425f8dc56c498963cefd22ff28d73a2e9c400aeba0d",
    "tatoeba.yue-eng.eng": "a96000ddf71d3717e42333942bf93641d5aca69949b1ce8dbd3e1b4ccdf20617",
    "tatoeba.yue-eng.yue": "09c6fb4a35e25bb6d8f717789cd1b60d566adb75159ed2225f10da6c994c89c9",
    "tatoeba.zsm-eng.eng": "ff0d1e56b9a190307dac18a304fbb5000dee96f61629940c11dcb91350231483",
    "tatoeba.zsm-eng.zsm": "d722747706934536b0a8e6656001fe4434029146940c225ab02a10868f1783f2",
}
TATOEBA_LANGUAGES = tuple(
    sorted(
        name.split(".")[1].removesuffix("-eng")
        for name in TATOEBA_SHA256
        if not name.endswith(".eng")
    )
)
DIRECTIONS = ("xx-en", "en-xx", "both")
PROTOCOLS = ("pooled", "mteb")
PAIRS_SCHEMA = {
    "lang": pl.String,
    "src_text": pl.String,
    "en_text": pl.String,
    "lang3": pl.String,
    "pair_id": pl.String,
    "split": pl.String,
}


def tatoeba_language_code(lang3: str) -> str:
    """The data-model code of an ISO 639-3 code: CLDR's alias if CLDR knows it, else the code."""
    alias = get_global("language_aliases").get(lang3)
    if alias is not None and is_known_language(base_language(alias)):
        return base_language(alias)
    if is_known_language(lang3):
        return lang3
    raise ValueError(
        f"Tatoeba language {lang3!r} has no code CLDR knows (no CLDR alias and not a CLDR "
        "language), so the data model cannot hold it"
    )


@functools.cache
def _codes() -> dict[str, str]:
    """Data-model code per usable Tatoeba language."""
    codes = {}
    for lang3 in TATOEBA_LANGUAGES:
        try:
            codes[lang3] = tatoeba_language_code(lang3)
        except ValueError:
            continue
    return codes


def usable_tatoeba_languages() -> tuple[str, ...]:
    """The Tatoeba languages (ISO 639-3) that have a data-model code."""
    return tuple(_codes())


def tatoeba_languages_for(languages: Iterable[str]) -> list[str]:
    """The usable Tatoeba languages (ISO 639-3) whose data-model code is in `languages`."""
    wanted = set(languages)
    return sorted(lang3 for lang3, code in _codes().items() if code in wanted)


def _check_languages(languages: Sequence[str], config_key: str) -> None:
    if not languages:
        raise ValueError(
            f"{config_key}.languages: empty; choose from {', '.join(TATOEBA_LANGUAGES)}"
        )
    unknown = sorted(set(languages) - set(TATOEBA_LANGUAGES))
    if unknown:
        by_code = {code: lang3 for lang3, code in _codes().items()}
        meant = [f"{by_code[code]} for {code}" for code in unknown if code in by_code]
        hint = f" (Tatoeba uses ISO 639-3 codes: {', '.join(meant)})" if meant else ""
        raise ValueError(
            f"{config_key}.languages: Tatoeba has no {', '.join(unknown)}{hint}; "
            f"it has {', '.join(TATOEBA_LANGUAGES)}"
        )
    unusable = sorted(set(languages) - set(_codes()))
    if unusable:
        raise ValueError(
            f"{config_key}.languages: {', '.join(unusable)}: no language code CLDR knows (no "
            "CLDR alias and not a CLDR language), which the data "
            f"model needs; usable: {', '.join(usable_tatoeba_languages())}"
        )


def tatoeba_files(
    languages: Sequence[str], local_folder: Path | None, download_folder: Path, config_key: str
) -> dict[str, tuple[Path, Path]]:
    """The verified (foreign, English) files per language, from `local_folder` if given, else
    downloaded."""
    _check_languages(languages, config_key)
    files = {}
    for lang in sorted(set(languages)):
        foreign, english = (
            published_file(
                f"tatoeba.{lang}-eng.{side}",
                TATOEBA_SHA256[f"tatoeba.{lang}-eng.{side}"],
                f"Tatoeba {lang}-eng {side}",
                TATOEBA_URL.format(commit=TATOEBA_COMMIT, name=f"tatoeba.{lang}-eng.{side}"),
                local_folder,
                download_folder,
                config_key,
            )
            for side in (lang, "eng")
        )
        files[lang] = (foreign, english)
    return files


@dataclass(frozen=True)
class _Pair:
    lang3: str
    lang: str  # data-model code
    line: int  # 0-based line in both files
    src: str
    en: str

    @property
    def pair_id(self) -> str:
        return f"tatoeba-{self.lang3}-{self.line:04d}"


@dataclass(frozen=True)
class _Node:
    """One distinct sentence (language, normalised text), as first seen."""

    node_id: str
    lang: str
    text: str
    english: str  # its English translation (itself for an English sentence)


NodeKey = tuple[str, str]  # (language, normalised text)


@dataclass(frozen=True)
class _Graph:
    nodes: dict[NodeKey, _Node]
    edges: list[tuple[NodeKey, NodeKey]]  # (foreign, English), one per pair, in pair order
    unit: dict[NodeKey, str]  # translation cluster of each node, the unit of splits


def _lines(path: Path) -> list[str]:
    # Split on "\n" only: str.splitlines would also split on U+2028, U+0085, ... and shift
    # the alignment.
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 ({error})") from error
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines]


def _pairs(
    files: Mapping[str, tuple[Path, Path]], seed: int, max_pairs_per_language: int | None
) -> list[_Pair]:
    """The pairs of every language in (language, line) order; empty lines are dropped and at
    most `max_pairs_per_language` lines per language kept (a seeded sample per language)."""
    if not files:
        raise ValueError("no Tatoeba languages given")
    if max_pairs_per_language is not None and max_pairs_per_language < 1:
        raise ValueError(f"max_pairs_per_language must be >= 1, got {max_pairs_per_language}")
    pairs: list[_Pair] = []
    for lang3 in sorted(files):
        lang = tatoeba_language_code(lang3)
        if lang == "en":
            raise ValueError(f"Tatoeba language {lang3!r} is English: no cross-lingual pairs")
        src_path, en_path = files[lang3]
        src, en = _lines(src_path), _lines(en_path)
        if len(src) != len(en):
            raise ValueError(
                f"{src_path} has {len(src)} lines but {en_path} has {len(en)}; "
                "they must be line-aligned"
            )
        lines = [i for i in range(len(src)) if src[i] and en[i]]
        if max_pairs_per_language is not None and len(lines) > max_pairs_per_language:
            sample = random.Random(f"tatoeba:{seed}:{lang3}").sample(lines, max_pairs_per_language)
            lines = sorted(sample)
        pairs.extend(_Pair(lang3, lang, i, src[i], en[i]) for i in lines)
    return pairs


def _normalised(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _graph(pairs: Sequence[_Pair]) -> _Graph:
    """Distinct sentences as nodes, pairs as edges, and the connected component of each node."""
    nodes: dict[NodeKey, _Node] = {}
    edges = []
    for pair in pairs:  # (language, line) order: a node keeps its first (smallest) id
        foreign = (pair.lang, _normalised(pair.src))
        english = ("en", _normalised(pair.en))
        nodes.setdefault(
            foreign, _Node(f"{pair.pair_id}-{pair.lang3}", pair.lang, pair.src, pair.en)
        )
        nodes.setdefault(english, _Node(f"{pair.pair_id}-en", "en", pair.en, pair.en))
        edges.append((foreign, english))
    parent = {key: key for key in nodes}

    def root(key: NodeKey) -> NodeKey:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for foreign, english in edges:
        a, b = root(foreign), root(english)
        if a != b:
            parent[max(a, b)] = min(a, b)
    # Name each cluster by its smallest English text: unlike a line number, it does not
    # change when other languages are added (unless they join the cluster).
    name: dict[NodeKey, str] = {}
    for key in nodes:
        if key[0] == "en":
            top = root(key)
            name[top] = min(name.get(top, key[1]), key[1])
    unit = {key: f"tatoeba:{name[root(key)]}" for key in nodes}
    return _Graph(nodes, edges, unit)


def _direction_of(unit: str, seed: int, direction: str) -> str:
    if direction != "both":
        return direction
    digest = hashlib.sha256(f"{seed}:direction:{unit}".encode()).digest()
    return "xx-en" if digest[0] < 128 else "en-xx"


def build_tatoeba(
    files: Mapping[str, tuple[Path, Path]],
    direction: str,
    seed: int,
    split_fractions: dict[str, float],
    max_pairs_per_language: int | None = None,
    protocol: str = "pooled",
) -> Dataset:
    """Bitext retrieval over the languages of `files` (ISO 639-3 -> (foreign, English) file).

    In direction xx-en the candidate groups are the languages (module docstring); protocol
    "mteb" needs direction xx-en and makes every query a test query (`split_fractions` unused).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown Tatoeba direction {direction!r}; known: {', '.join(DIRECTIONS)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown Tatoeba protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol == "mteb" and direction != "xx-en":
        raise ValueError(f"Tatoeba protocol mteb searches xx-en, not {direction}")
    graph = _graph(_pairs(files, seed, max_pairs_per_language))
    queries: dict[str, tuple] = {}
    docs: dict[str, tuple] = {}
    reference_english: dict[str, tuple] = {}
    qrels: set[tuple] = set()
    doc_groups: set[tuple[str, str]] = set()
    for foreign, english in graph.edges:
        unit = graph.unit[foreign]
        way = _direction_of(unit, seed, direction)
        query_key, doc_key = (foreign, english) if way == "xx-en" else (english, foreign)
        query, doc = graph.nodes[query_key], graph.nodes[doc_key]
        split = "test" if protocol == "mteb" else split_of(unit, seed, split_fractions)
        queries[query.node_id] = (query.node_id, query.lang, query.text, split)
        docs[doc.node_id] = (doc.node_id, doc.lang, "", doc.text)
        reference_english[doc.node_id] = (doc.node_id, "en", "", doc.english)
        qrels.add((query.node_id, doc.node_id, 1))
        doc_groups.add((doc.node_id, query.lang))  # in xx-en, the foreign side's language
    # An English query (en-xx) is in every language file it is in: it has no one group.
    grouped = direction == "xx-en"
    return dataset_from_rows(
        sorted(docs.values()),
        sorted(queries.values()),
        sorted(qrels),
        sorted(reference_english.values()),
        doc_groups=sorted(doc_groups) if grouped else None,
        query_groups=sorted((q[0], q[1]) for q in queries.values()) if grouped else None,
    )


def parallel_pairs(
    files: Mapping[str, tuple[Path, Path]],
    seed: int,
    split_fractions: dict[str, float],
    max_pairs_per_language: int | None = None,
) -> pl.DataFrame:
    """The sentence pairs: lang (data-model code), src_text, en_text, lang3, pair_id, split.

    The same pairs and splits as `build_tatoeba` with the same arguments (keep split == "train"
    to train on nothing a dev/test query or its relevant documents contain); a pair repeating
    an earlier one of its language (same normalised texts) is dropped.
    """
    pairs = _pairs(files, seed, max_pairs_per_language)
    graph = _graph(pairs)
    rows = []
    seen = set()
    for pair, edge in zip(pairs, graph.edges, strict=True):
        if edge in seen:
            continue
        seen.add(edge)
        split = split_of(graph.unit[edge[0]], seed, split_fractions)
        rows.append((pair.lang, pair.src, pair.en, pair.lang3, pair.pair_id, split))
    return pl.DataFrame(rows, schema=PAIRS_SCHEMA, orient="row")
