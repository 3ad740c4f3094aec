"""Текст страницы по-русски: те же ключи, что в text/en.py (тест проверяет, что ключи совпадают), и PHRASES:
каждая короткая фраза страницы (подписи, заголовки графиков, сообщения), ключ — её английский текст."""

INTRO = """# Плотная модель против смеси экспертов (MoE)
Вставьте любой текст. Его одновременно читают три небольшие языковые модели, **обученные этим проектом**
на английском, русском, коде на Python и арифметике: **плотный** трансформер, модель **Mixture-of-Experts
(MoE)** с *тем же числом активных параметров на токен* и плотная модель с *тем же общим числом
параметров*, что у MoE из 8 экспертов. Двиньте любой регулятор, и всё ниже пересчитается."""

ROUTING = """### Каким экспертам достаётся каждый токен?
В слое MoE единственная полносвязная сеть (FFN) блока трансформера заменена несколькими **экспертами**
(у каждого своя FFN) и **маршрутизатором**: маленьким линейным слоем, который оценивает каждого эксперта
для каждого токена, оставляет **top-K** лучших и смешивает их выходы с весами маршрутизатора (*гейтами*).
Каждый цвет ниже — один эксперт; наведите на токен, чтобы увидеть его top-K экспертов и веса в выбранном
слое. Зачёркнутый заштрихованный токен **отброшен**: выбранные им эксперты уже заполнены (лимит ёмкости),
поэтому он пропустил FFN и прошёл дальше по остаточной связи без изменений."""

HEATMAP = """Тот же выбор сразу во всех слоях: строки — слои, столбцы — токены. Ищите полосы одного цвета
(соседние токены часто делят эксперта) и цвета, которые следуют за языком или кодом."""

LOAD = """**Нагрузка экспертов**: доля токенов этого текста, выбравших каждого эксперта. При идеальном балансе
каждому достаётся K/E токенов (пунктир). Коэффициент ёмкости ограничивает эксперта величиной
capacity_factor × токены × K / E назначений (красная линия); остальное отбрасывается."""

COMPARE = """### Большой мозг при малой цене работы
MoE хранит много экспертов, но каждый токен проходит лишь через K из них, поэтому его **активные**
параметры (и FLOPs) на токен — как у маленькой плотной модели, а **общее** число параметров — почти как у
широкой. Задержка **измерена здесь, на этой машине**, на вашем тексте: prefill — один проход по всему
тексту, decode — генерация по одному токену с KV-кэшем. При декодировании одной последовательности
читаются веса лишь выбранных экспертов, поэтому MoE может работать быстрее плотной модели того же общего
размера. На крошечном размере нашего зоопарка (1,6 M активных параметров) учёт маршрутизатора может стоить
дороже сэкономленного чтения весов, так что здесь MoE вполне может оказаться *медленнее* (замер выше
показывает, так ли это на этой машине): вкладка **Лаборатория задержек** измеряет те же слои на
реалистичной ширине, где экономия побеждает. Перплексия — exp(средний
loss) на этом тексте: чем ниже, тем лучше модель его предсказала."""

CONTROLS_HELP = """**top-K**: экспертов на токен (модели обучены с 2). **Коэффициент ёмкости**: 0 — без ограничения;
малые значения отбрасывают токены. **Шум маршрутизатора**: гауссов шум (с этим стандартным отклонением),
добавленный к оценкам маршрутизатора при фиксированном зерне, — чтобы увидеть, насколько хрупка маршрутизация."""

SCALE = """### Насколько велики настоящие MoE и какая их часть работает на токен?
Каждое число здесь вычислено по опубликованной архитектуре модели (её `config.json`), а не процитировано.
**Активные** параметры — те, что использует проход одного токена; авторы считают их по-разному (с входным
эмбеддингом и выходной головой или без), поэтому показаны все соглашения и то, которым пользовались
авторы, если оно известно. Последний график показывает, почему батчинг съедает преимущество MoE при
декодировании: чем больше токенов за шаг, тем больше экспертов приходится читать из памяти. Модель, чья
архитектура не опубликована (GPT-4), так и помечена — ничего не выдумано."""

PROBLEMS = """### Проблемы MoE, воспроизведённые обучением
Оставить лишь top-K экспертов из softmax маршрутизатора — это и *есть* разреженность: веса остальных
экспертов обнуляются (перенормировка по оставшимся K — это softmax только по их оценкам, маскированный
softmax). Ничто не заставляет маршрутизатор делить работу. В начале обучения несколько экспертов
становятся чуть лучше, маршрутизатор шлёт им больше токенов, они улучшаются ещё, а остальные голодают:
**дисбаланс нагрузки**, а в худшем случае **коллапс экспертов** (эксперты почти не получают токенов и
перестают учиться). Показанные средства: **функция потерь балансировки** (штраф за неровную нагрузку),
**шумная маршрутизация** (случайное исследование других экспертов), **балансировка смещением** (DeepSeek-V3:
поднимать смещение недогруженного эксперта без дополнительной потери) и **лимиты ёмкости** (эксперт
берёт не больше фиксированного числа токенов; избыток отбрасывается). **z-loss маршрутизатора** тоже
показан, но это средство стабильности (ST-MoE: держит оценки маршрутизатора малыми), а не балансировки."""

RECORDED = """**Записанные прогоны обучения.** Та же модель из 8 экспертов на тех же данных, обученная каждым
способом дважды (два зерна: разные начальные веса и порядок батчей) командой
`python -m training.balancing --train`; логи поставляются с приложением. Варианты, меняющие по одному
фактору, разделяют эффекты: шум без потери балансировки, только top-1, лимит ёмкости без потери
балансировки. Проба коллапса обучает top-1 без балансировки с утроенным шагом обучения. Кривые показывают
прогон первого зерна; таблица усредняет оба."""

CAPACITY = """### Лимиты ёмкости на вашем тексте
Каждый эксперт берёт не больше capacity_factor × токены × K / E токенов этого текста (модель из 8
экспертов); более поздние токены, выбравшие заполненного эксперта, для него **отбрасываются**
(зачёркнуты и заштрихованы, если заполнены все их эксперты) и пропускают FFN. График показывает, чего
отбрасывание стоит в потерях на токен."""

LIVE = """### Смотрите, как учится маршрутизатор (вживую, на этой машине)
С нуля обучает крошечную MoE из 8 экспертов (2 слоя, ширина 64) на отрывке обучающего текста выбранным
способом балансировки и рисует долю каждого эксперта по ходу обучения; строка состояния показывает
скорость, измеренную на этой машине, и оставшееся время. Нажмите «Stop» в любой момент."""

SPECIALISATION = """### На чём специализируются эксперты?
Вычислено на отложенном тексте каждого домена (на нём не обучали). Каждая статистика стоит рядом с
базовой линией, потому что число само по себе вводит в заблуждение: эксперт, получивший 30% русских
токенов, важен, только если он не получает 30% вообще всего (цвета сравнивают домен с долей эксперта по
всем доменам); соседние токены с общим экспертом говорят о контексте, только если перемешивание тех же
токенов ломает картину. **Из нагрузки** — частота повторов, если бы каждый токен выбирал эксперта
независимо по измеренным нагрузкам (Σp²). **Поиск по токену** — маршрутизатор, который смотрит лишь на
то, какой это токен: всё, что он воспроизводит, объясняется самими токенами, а не смыслом."""

TEXT_SPECIALISATION = """**Специализация на этом тексте** (выбранная MoE): соседние токены с общим экспертом против базовых
линий и токены, которые каждый эксперт брал чаще всего в выбранном слое."""

LATENCY = """### Лаборатория задержек: почему больше параметров может работать быстрее?
Декодирование по одному токену упирается в **чтение весов из памяти**, а не в арифметику. Плотный слой
читает все свои веса на каждом шаге; слой MoE — только K экспертов, выбранных маршрутизатором. Поэтому при
батче 1 MoE из E экспертов может быть до E/K раз быстрее плотного слоя того же общего размера. Когда
вместе декодируется больше последовательностей, их токены выбирают разных экспертов, читать приходится
больше, и преимущество падает к 1: пунктир — ожидаемое число прочитанных экспертов E·(1-((E-K)/E)^B).
При ещё большем числе токенов за вызов плотный слой перестаёт ждать память и ждёт арифметику; тогда
преимущество MoE снова растёт к отношению FLOPs E/K (штрихпунктир — модель roofline: каждый вызов длится
дольше из двух — чтения весов и вычислений, с пропускной способностью и FLOP/s, измеренными на этой
машине). Измерьте здесь (от нескольких секунд до минуты, в зависимости от масштаба); кэши очищаются перед
каждым вызовом, как в настоящей модели, где через них проходят веса других слоёв."""

LATENCY_SHIPPED = """#### Последний полный прогон бенчмарка (`python -m benchmarks.latency`)"""

INTERVENTIONS = """### Вмешательства: измените маршрутизацию и измерьте цену
Маршрутизация задаётся на каждый вызов, поэтому можно отключать экспертов, принуждать токены к выбранным
экспертам или менять top-K и измерять потери на **вашем** тексте рядом с плотными моделями. Потери —
перекрёстная энтропия следующего токена в натах на токен (ниже — лучше; перплексия = e^loss); изменение на
+0,1 ната/токен значит, что текст стал для модели примерно на 10% менее предсказуемым. На коротких текстах
среднее решают несколько токенов: смотрите, какие токены сдвинулись, а не только на среднее."""

SWEEP = """**Сколько экспертов нужно этому тексту?** Потери MoE при каждом top-K от 1 до E (обучена с 2),
плотные двойники — пунктиром, и скорость декодирования, измеренная здесь для каждого K (медиана из 3,
полосы — минимум-максимум). На практике настоящие MoE запускают с меньшим числом экспертов на токен ради
скорости (llama.cpp запускает Qwen3-30B-A3B с половиной экспертов); здесь видно, чего это стоит на вашем тексте."""

ABLATION = """**Абляция.** Отключите экспертов в одном слое или во всех. *Re-route*: токены, выбравшие их, берут
следующего по рангу эксперта (распределение маршрутизатора не меняется; как `--omit-experts` в llama.cpp).
*Zero*: маршрутизация не меняется, а выход эксперта отбрасывается (токен сохраняет другого эксперта)."""

IMPORTANCE = """**Важность экспертов на этом тексте**: средний рост потерь, когда отключён один эксперт
(с перемаршрутизацией), для каждого слоя и эксперта, всё сразу — строками одного батча. Красные клетки —
эксперты, на которые опирается этот текст; наведите, чтобы увидеть токены, которым каждый вредит больше
всего. Значения около 0 (любого знака) значат, что следующий эксперт справляется не хуже."""

FORCING = """**Принуждение.** Направьте участок позиций токенов (или все) ровно к выбранным экспертам (столько,
сколько top-K), в одном слое или во всех, и посмотрите, как изменятся потери."""

EXPERT_CACHE = """#### Кэш экспертов: каких экспертов держать в быстрой памяти
Когда MoE не помещается в быструю память (память GPU или ОЗУ рядом с SSD), среды выполнения держат самых
используемых экспертов рядом, а остальных подгружают для каждого токена. Первый график считает на вашем
тексте, сколько обращений к экспертам обслужили бы N самых используемых экспертов каждого слоя; пунктир —
то, что дала бы равномерная маршрутизация (N/E). Второй переносит это на размеры настоящей модели из её
конфигурации: скорость декодирования при батче 1, когда каждый токен читает веса из быстрой памяти и
подгружает холодных экспертов из медленной (фиксированный горячий набор, без повторного использования
между токенами). Для пресета кривая с перекосом берёт измеренный перекос модели из зоопарка при той же
доле кэшированных экспертов — читайте её как «если бы она маршрутизировала, как наша»; настоящая MoE,
загруженная через `--model`, измеряется сама, со своими размерами."""

EMPTY_TEXT = """**Вставьте текст для анализа.** Текст пуст или состоит из пробелов, маршрутизировать нечего:
результаты предыдущего текста очищены."""

GLOSSARY = """| термин | значение |
|---|---|
| эксперт | одна из полносвязных сетей слоя MoE; маршрутизатор выбирает **top-K** из них для каждого токена |
| общие параметры | все веса, которые хранит модель (память) |
| активные параметры | веса, которые использует проход одного токена: всё, кроме экспертов, к которым он не направлен (вычисления на токен) |
| FLOPs на токен | операции с плавающей точкой прохода одного токена (2 на умножение-сложение) |
| наты, перплексия | потери измеряются в натах (единицах натурального логарифма) на токен; перплексия = e^loss — число равновероятных следующих токенов, между которыми модель так же не уверена |
| биты на байт | те же потери на байт текста (в битах), честно для разных токенизаторов |
| 95% интервал | бутстреп-интервал среднего по токенам этого текста: где оказалось бы среднее на похожем тексте |
| prefill, decode | prefill — один проход по всему запросу; decode — генерация по одному токену с **KV-кэшем** (ключами и значениями внимания прошлых токенов) |
| медиана, IQR | середина повторных замеров и размах их средней половины (межквартильный размах) |
| ограничение памятью, roofline | вызов ограничен памятью, когда чтение весов дольше арифметики; модель roofline берёт большее из двух |
| dense-active, dense-total | плотные слои шириной с активных экспертов MoE (те же вычисления) и со всех экспертов (те же параметры) |
| moe-loop, moe-sorted, moe-grouped | один и тот же слой MoE, вычисленный тремя способами: цикл по экспертам, одно произведение на эксперта после сортировки токенов, одно групповое ядро |
| hf-mixtral | блок MoE Mixtral из transformers с теми же весами, независимый эталон |
| нагрузка, CV нагрузки, мёртвый эксперт | нагрузка — доля назначений эксперта; CV — их разброс (std / среднее, 0 — ровно); мёртвый эксперт получает меньше 10% ровной доли |
| aux loss, z-loss | потеря балансировки (тянет нагрузку к ровной); z-loss маршрутизатора (держит логиты малыми: средство стабильности, не балансировки) |
| коэффициент ёмкости | сколько токенов может взять эксперт относительно ровной доли; избыток отбрасывается |
| bf16 | bfloat16, 16-битная плавающая точка с диапазоном float32: вдвое меньше байт для чтения |"""

PIN_HELP = """**Нажмите на токен** в полосе выше, чтобы закрепить его: его распределение маршрутизатора по всем
экспертам во всех слоях и пять самых вероятных следующих токенов каждой модели в этой точке."""

GENERATION = """**Модели пишут.** Каждая модель продолжает ваш текст по одному токену, с KV-кэшем: жадно
(температура 0: всегда самый вероятный токен) или выборкой (показанный seed делает её повторяемой). Токены
MoE окрашены по первому выбранному эксперту в слое, выбранном выше; скорость измеряется, пока каждая модель
генерирует (вместе с префиллом запроса). Это **крошечные модели**, обученные на небольшом корпусе: ждите
обрывков, похожих на обучающий текст, а не смысла."""

TAB_COMPARE = "Плотная против MoE на вашем тексте"
TAB_INTERVENTIONS = "Вмешательства"
TAB_LATENCY = "Лаборатория задержек"
TAB_PROBLEMS = "Проблемы MoE"
TAB_SPECIALISATION = "Специализация"
TAB_SCALE = "Масштаб: настоящие модели"
GLOSSARY_TITLE = "Что значат термины"
MODEL_CARD_TITLE = "Об этих моделях (карточка модели)"

# Control labels and button texts, by their English text (page/common.l looks them up).
TRAINING_CURVES = """**Кривые обучения**: потери каждой модели на отложенной части, измеренные каждые 250 шагов обучения, в
зависимости от увиденных токенов и от FLOPs, потраченных на обучение (3 x FLOPs прямого прохода на токен: обратный
проход стоит примерно вдвое больше прямого). При равном числе токенов MoE тратят на токен те же FLOPs, что `dense`
(их активная ширина та же), так что где кривая MoE идёт ниже `dense`, она лучше при тех же вычислениях;
`dense-wide` платит за свою ширину примерно в 2,3 раза больше FLOPs на токен."""

PHRASES = {
    "Balancing method": "Метод балансировки",
    "Capacity factor (0 = no limit)": "Коэффициент ёмкости (0 = без ограничения)",
    "Capacity factor": "Коэффициент ёмкости",
    "Co-activation": "Совместная активация",
    "Context length for FLOPs (tokens)": "Длина контекста для FLOPs (токены)",
    "Decode": "Декодирование",
    "Domains": "Домены",
    "Each expert's most frequent tokens in this text": "Самые частые токены каждого эксперта в этом тексте",
    "Each expert's most frequent tokens": "Самые частые токены каждого эксперта",
    "Every top-K beside the dense twins": "Каждое top-K рядом с плотными двойниками",
    "Examples: English, Russian, Python code, a mix": "Примеры: английский, русский, код на Python, смесь",
    "Expert importance": "Важность экспертов",
    "Expert load over training": "Нагрузка экспертов за время обучения",
    "Expert load while training": "Нагрузка экспертов во время обучения",
    "Expert load": "Нагрузка экспертов",
    "Experts read vs batch": "Прочитанные эксперты в зависимости от батча",
    "Experts to force (as many as top-K)": "Эксперты для принуждения (столько, сколько top-K)",
    "Experts to switch off": "Эксперты, которых отключить",
    "FLOPs per token": "FLOPs на токен",
    "Fast memory bandwidth (GB/s; e.g. GPU 1000, CPU RAM 50)": "Пропускная способность быстрой памяти (ГБ/с; напр. GPU 1000, ОЗУ CPU 50)",
    "Final figures (means over seeds of the last 20 steps)": "Итоговые цифры (средние по сидам за последние 20 шагов)",
    "From token position": "С позиции токена",
    "Full report (JSON)": "Полный отчёт (JSON)",
    "Implied decode speed": "Следующая из этого скорость декодирования",
    "Layer to show": "Показать слой",
    "Layer": "Слой",
    "Load CV, dead experts, loss": "CV нагрузки, мёртвые эксперты, потери",
    "Load before and after": "Нагрузка до и после",
    "Look-ups served by the hot experts": "Обращения, обслуженные «горячими» экспертами",
    "Loss and speed against top-K": "Потери и скорость в зависимости от top-K",
    "Loss change per token (forcing)": "Изменение потерь по токенам (принуждение)",
    "Loss change per token": "Изменение потерь по токенам",
    "Loss with and without the limit": "Потери с ограничением и без",
    "Measured latency": "Измеренная задержка",
    "Memory": "Память",
    "MoE model": "Модель MoE",
    "Dense twin (same tokenizer)": "Плотный двойник (тот же токенизатор)",
    "Mode": "Режим",
    "Model": "Модель",
    "Models": "Модели",
    "Neighbouring tokens": "Соседние токены",
    "New tokens": "Новых токенов",
    "Noise seed": "Seed шума",
    "Number of experts (MoE model)": "Число экспертов (модель MoE)",
    "Or paste any Hugging Face config.json": "Или вставьте любой config.json с Hugging Face",
    "Parameters": "Параметры",
    "Per-token loss": "Потери по токенам",
    "Pinned token position": "Позиция закреплённого токена",
    "Pinned token: each model's top-5 next tokens": "Закреплённый токен: топ-5 следующих токенов каждой модели",
    "Pinned token: router distribution": "Закреплённый токен: распределение маршрутизатора",
    "Prefill": "Префилл",
    "Real model (sizes from its config; a loaded MoE above uses its own)": "Реальная модель (размеры из её конфигурации; загруженная MoE выше использует свои)",
    "Recorded runs": "Записанные запуски",
    "Roofline": "Roofline",
    "Router confidence": "Уверенность маршрутизатора",
    "Router noise (std)": "Шум маршрутизатора (std)",
    "Routing heatmap": "Тепловая карта маршрутизации",
    "Routing table (CSV)": "Таблица маршрутизации (CSV)",
    "Sampling seed": "Seed выборки",
    "Scale of each model (computed from its architecture)": "Масштаб каждой модели (вычислен по её архитектуре)",
    "Shipped: decode": "Поставленный запуск: декодирование",
    "Shipped: models": "Поставленный запуск: модели",
    "Shipped: prefill": "Поставленный запуск: префилл",
    "Shipped: roofline": "Поставленный запуск: roofline",
    "Shipped: speedup vs ideal": "Поставленный запуск: ускорение против идеала",
    "Slow memory bandwidth (GB/s; e.g. PCIe 25, NVMe SSD 5)": "Пропускная способность медленной памяти (ГБ/с; напр. PCIe 25, NVMe SSD 5)",
    "Speedup vs ideal": "Ускорение против идеала",
    "Temperature (0 = greedy)": "Температура (0 = жадно)",
    "Text to analyse": "Текст для анализа",
    "Text": "Текст",
    "The MoE beside its dense twins": "MoE рядом со своими плотными двойниками",
    "Timing: weights and activations in": "Замер: веса и активации в",
    "To token position (-1 = the last)": "До позиции токена (-1 = последний)",
    "Tokens most affected (forcing)": "Токены, затронутые сильнее всего (принуждение)",
    "Tokens most affected": "Токены, затронутые сильнее всего",
    "Total vs active": "Всего против активных",
    "Training steps": "Шаги обучения",
    "Weight format": "Формат весов",
    "Zoo MoE whose routing is measured": "MoE из зоопарка, чья маршрутизация измеряется",
    "d_model": "d_model",
    "decode batch sizes": "размеры батча декодирования",
    "device": "устройство",
    "expert width F": "ширина эксперта F",
    "experts E": "экспертов E",
    "prefill token counts": "число токенов префилла",
    "top-K (experts per token)": "top-K (экспертов на токен)",
    "top-K": "top-K",
    "weights and activations": "веса и активации",
    "Continue the text": "Продолжить текст",
    "Compute expert importance (automatic for the zoo; a real model takes longer)": "Вычислить важность экспертов (для зоопарка автоматически; реальная модель дольше)",
    "Sweep top-K (measures decode speed: about 10 s)": "Перебрать top-K (измеряет скорость декодирования: около 10 с)",
    "Switch off": "Отключить",
    "Force": "Принудить",
    "Measure": "Измерить",
    "Apply the capacity limit": "Применить ограничение ёмкости",
    "Train": "Обучить",
    "Stop": "Остановить",

    # Computed per request (chart titles and axes, table headers, status lines, findings, messages): text.tr
    'MoE, {n} experts, top-{k}': 'MoE, {n} экспертов, top-{k}',
    'dense twin': 'плотный двойник',
    'dense, compute-matched': 'плотная, равная по вычислениям',
    'dense, parameter-matched to moe-8': 'плотная, равная moe-8 по параметрам',
    'dense_model must be a loaded dense model, got {value!r}; loaded: {loaded}': 'dense_model должна быть загруженной плотной моделью, получено {value!r}; загружены: {loaded}',
    'router noise must be between 0 and {high}, got {value}': 'шум маршрутизатора должен быть от 0 до {high}, получено {value}',
    'noise seed must be between 0 and 2^63 - 1, got {value}': 'зерно шума должно быть от 0 до 2^63 - 1, получено {value}',
    'text must be a string, got {kind}': 'текст должен быть строкой, получено {kind}',
    'the text has {n:,} characters; the limit is {limit:,}': 'в тексте {n:,} символов; предел — {limit:,}',
    "Characters that are not valid Unicode (lone surrogates) were replaced by '?'.": "Символы, недопустимые в Unicode (одиночные суррогаты), заменены на '?'.",
    'Paste some text to analyse: the text is empty or only whitespace.': 'Вставьте текст для анализа: текст пуст или состоит из пробелов.',
    '{n} character(s) of this text never occur in the training text ({chars}): the models never learned to predict them, so their tokens get a very high loss. A uniform guess over the {vocab:,} tokens scores {uniform:.1f} nats (perplexity {vocab:,}); a model that confidently expects something else scores worse, so a perplexity in the tens of thousands here is expected, not a fault.': 'Символов этого текста, которых нет в обучающем тексте: {n} ({chars}). Модели не учились их предсказывать, поэтому их токены получают очень высокие потери. Равномерное угадывание среди {vocab:,} токенов даёт {uniform:.1f} ната (перплексия {vocab:,}); модель, уверенно ожидающая другое, получает больше, так что перплексия в десятки тысяч здесь ожидаема, а не ошибка.',
    "The text has {n:,}{more} tokens; only the first {context} are analysed (the models' context length). The rest is ignored.": 'В тексте {n:,}{more} токенов; анализируются только первые {context} (длина контекста моделей). Остальное отброшено.',
    "dense_model: '{twin}' splits this text into other tokens than '{moe}'; choose a dense model with the same tokenizer": "dense_model: '{twin}' делит этот текст на другие токены, чем '{moe}'; выберите плотную модель с тем же токенизатором",
    'The text is a single token: there is nothing to predict, so no loss is shown.': 'Текст — один токен: предсказывать нечего, поэтому потери не показаны.',
    'token position must be between 0 and {high}, got {value!r}': 'позиция токена должна быть от 0 до {high}, получено {value!r}',
    'timing dtype must be one of {choices} on this machine, got {value!r}': 'тип данных замера на этой машине должен быть одним из {choices}, получено {value!r}',
    '{name} must be an integer, got {value!r}': '{name}: нужно целое число, получено {value!r}',
    '{name} must be a number, got {value!r}': '{name}: нужно число, получено {value!r}',
    '{name} must be finite, got {value!r}': '{name}: нужно конечное число, получено {value!r}',
    'model must be a loaded MoE model, got {value!r}; loaded: {loaded}': 'model должна быть загруженной MoE-моделью, получено {value!r}; загружены: {loaded}',
    'number of experts must be one of {choices}, got {value}': 'число экспертов должно быть одним из {choices}, получено {value}',
    'capacity factor must be positive (or 0 for no limit), got {value}': 'коэффициент ёмкости должен быть положительным (или 0 — без ограничения), получено {value}',
    'none': 'нет',
    ' Weights and activations in {dtypes}.': ' Веса и активации в {dtypes}.',
    'number of experts': 'число экспертов',
    'top_k': 'top_k',
    'capacity factor': 'коэффициент ёмкости',
    'router noise': 'шум маршрутизатора',
    'noise seed': 'зерно шума',
    'layer': 'слой',
    'expert': 'эксперт',
    'start position': 'начальная позиция',
    'end position': 'конечная позиция',
    'token position': 'позиция токена',
    'steps': 'шаги',
    'batch size': 'размер батча',
    'token count': 'число токенов',
    'fast bandwidth': 'быстрая пропускная способность',
    'slow bandwidth': 'медленная пропускная способность',
    '{name} must be an integer between {low} and {high}, got {value!r}': '{name}: нужно целое число от {low} до {high}, получено {value!r}',
    '{name} must be an integer between 1 and the number of experts ({n}), got {value!r}': '{name}: нужно целое число от 1 до числа экспертов ({n}), получено {value!r}',
    'every layer': 'всех слоях',
    'layer {layer}': 'слой {layer}',
    'tokens re-routed to their next-best experts': 'токены перенаправлены к следующим лучшим экспертам',
    'their outputs dropped': 'их выходы отброшены',
    'experts {experts} switched off in {where} ({what})': 'эксперты {experts} отключены: {where} ({what})',
    'positions {start}-{end} forced to experts {experts} in {where}': 'позиции {start}-{end} принудительно направлены к экспертам {experts}: {where}',
    'not measured': 'не измерено',
    'done': 'готово',
    'the text is a single token: there is nothing to predict, so no loss to compare': 'текст — один токен: предсказывать нечего, сравнивать потери не с чем',
    'experts: choose at least one expert': 'эксперты: выберите хотя бы одного эксперта',
    'experts must be different, got {value}': 'эксперты должны быть разными, получено {value}',
    'mode must be one of {choices}, got {value!r}': 'режим должен быть одним из {choices}, получено {value!r}',
    'experts: re-routing needs top-K = {k} experts left; {n} of {total} are switched off': 'эксперты: для перенаправления нужно, чтобы осталось top-K = {k} экспертов; отключено {n} из {total}',
    'experts: choose exactly top-K = {k} experts to force, got {n}': 'эксперты: для принуждения выберите ровно top-K = {k} экспертов, выбрано {n}',
    "top-K = {k} uses every expert: nothing is left to re-route to; choose 'zero'": "top-K = {k} задействует всех экспертов: перенаправлять некуда; выберите 'zero'",
    'loss at top-K = {k}': 'потери при top-K = {k}',
    'timing decode at every K': 'замер декодирования при каждом K',
    "other processes kept {used:.1f} of this machine's {cores} cores busy while it measured": 'другие процессы занимали {used:.1f} из {cores} ядер этой машины во время замера',
    'repetitions of one timing spread {spread:.0f}% around their median (more than {limit:.0f}%)': 'повторы одного замера разбросаны на {spread:.0f}% вокруг медианы (больше {limit:.0f}%)',
    'prefill: one forward pass over {tokens} tokens (batch 1); decode: {decode} greedy one-token steps with the KV cache after the prefill. {warmup} warm-up + {repeats} interleaved repetitions, median with min-max; {threads} CPU threads.': 'prefill: один прямой проход по {tokens} токенам (батч 1); decode: {decode} жадных шагов по одному токену с KV-кэшем после prefill. {warmup} прогрев + {repeats} чередующихся повторов, медиана с мин-макс; потоков CPU: {threads}.',
    "**Token {position} '{token}'** (click another token to move the pin): where the router sends it in every layer, and what each model expects next.": "**Токен {position} '{token}'** (нажмите на другой токен, чтобы перенести закрепление): куда маршрутизатор направляет его в каждом слое и что каждая модель ожидает дальше.",
    '**{n} tokens** analysed by `{model}` with top-{k}': '**Токенов: {n}**, проанализировано моделью `{model}` с top-{k}',
    ', router noise std {std} (seed {seed})': ', шум маршрутизатора std {std} (зерно {seed})',
    'Specialisation on this text': 'Специализация на этом тексте',
    ', capacity factor {value}': ', коэффициент ёмкости {value}',
    '**{what}**: mean loss {before:.3f} → {after:.3f} nats/token ({change:+.3f}).': '**{what}**: средние потери {before:.3f} → {after:.3f} ната/токен ({change:+.3f}).',
    "Measured on {device} in {dtype} ({machine}), {repeats} interleaved repetitions after {warmup} warm-up, caches flushed before every call; weights: dense-total {total:.0f} MB, the MoE's active experts {active:.0f} MB. Matmul ceiling {ceiling:.0f} GFLOP/s, read bandwidth {bandwidth:.0f} GB/s.": 'Измерено на {device} в {dtype} ({machine}): {repeats} чередующихся повторов после прогрева ({warmup}), кэши сбрасываются перед каждым вызовом; веса: dense-total {total:.0f} МБ, активные эксперты MoE {active:.0f} МБ. Потолок умножения матриц {ceiling:.0f} GFLOP/s, пропускная способность чтения {bandwidth:.0f} ГБ/с.',
    '*This run carries no reliability verdict (measured before the project checked the load).*': '*У этого прогона нет оценки надёжности (измерен до того, как проект начал проверять нагрузку).*',
    "**Reliable run**: other processes used {used:.1f} of {cores} cores; every timing's interquartile range within {spread:.0f}% of its median.": '**Надёжный прогон**: другие процессы заняли {used:.1f} из {cores} ядер; межквартильный размах каждого замера в пределах {spread:.0f}% от медианы.',
    '. Treat the ratios below as rough.': '. Считайте отношения ниже грубыми.',
    '**⚠ Unreliable run**: ': '**⚠ Ненадёжный прогон**: ',
    'Whole models: decode step': 'Модели целиком: шаг декодирования',
    'Decode step: ms per call': 'Шаг декодирования: мс на вызов',
    'Prefill: ms per call': 'Prefill: мс на вызов',
    'tokens': 'токены',
    'Choose at least one batch size and one token count.': 'Выберите хотя бы один размер батча и одно число токенов.',
    'device must be one of {choices}': 'устройство должно быть одним из {choices}',
    'dtype must be one of {choices} on this machine': 'тип данных на этой машине должен быть одним из {choices}',
    'model must be one of {choices}': 'модель должна быть одной из {choices}',
    'weight format must be one of {choices}': 'формат весов должен быть одним из {choices}',
    'each {name} must be one of {choices}': 'каждое значение ({name}) должно быть одним из {choices}',
    '{name} must be between 0.01 and 100,000 GB/s, got {value!r}': '{name}: нужно от 0,01 до 100 000 ГБ/с, получено {value!r}',
    'the zoo model': 'модели зоопарка',
    '**Where the decode curve departs from the memory-bound model, and why**': '**Где кривая декодирования отходит от модели, ограниченной памятью, и почему**',
    'Measured on: {machine}. ': 'Измерено на: {machine}. ',
    'met': 'выполнено',
    'missed': 'не выполнено',
    'Choose at least one recorded variant.': 'Выберите хотя бы один записанный вариант.',
    'Choose a capacity factor above 0 to see which tokens it drops.': 'Выберите коэффициент ёмкости больше 0, чтобы увидеть, какие токены он отбрасывает.',
    '**{method}**: step {step} of {steps}, loss {loss:.3f} nats/token, dead expert slots {dead:.0f} of {slots}; {elapsed:.1f} s so far, {rate:.1f} steps/s measured on this machine, so about {left:.0f} s left': '**{method}**: шаг {step} из {steps}, потери {loss:.3f} ната/токен, мёртвых слотов экспертов {dead:.0f} из {slots}; прошло {elapsed:.1f} с, измерено {rate:.1f} шагов/с на этой машине, так что осталось около {left:.0f} с',
    '**{method}**: stopped at step {step} of {steps} after {elapsed:.1f} s, loss {loss:.3f} nats/token.': '**{method}**: остановлено на шаге {step} из {steps} через {elapsed:.1f} с, потери {loss:.3f} ната/токен.',
    'step {step} of {steps}': 'шаг {step} из {steps}',
    '⚠ The pasted config cannot be read yet: {error}. The table shows the chosen models.': '⚠ Вставленный конфиг пока не читается: {error}. В таблице — выбранные модели.',
    'Choose at least one model or paste a config.json.': 'Выберите хотя бы одну модель или вставьте config.json.',
    "A published count agrees when it is the computed one rounded or truncated to its last digit (Qwen3's 3.35B is published as 3.3B) or within 1% of it; a size name (Llama 2's '70B') agrees within 5%. Active parameters are compared under the authors' convention, or under each convention when they did not state one.": "Опубликованное число совпадает, если это вычисленное, округлённое или усечённое до последней цифры (3,35B у Qwen3 опубликовано как 3.3B), или отличается не более чем на 1%; название размера ('70B' у Llama 2) совпадает в пределах 5%. Активные параметры сравниваются по соглашению авторов, а если они его не указали — по каждому соглашению.",
    'No routing analysis for {model!r}; shipped: {shipped}.': 'Нет анализа маршрутизации для {model!r}; поставляются: {shipped}.',
    'No routing analysis ships with this copy: run `python -m benchmarks.routing_analysis`.': 'С этой копией не поставляется анализ маршрутизации: запустите `python -m benchmarks.routing_analysis`.',
    '**What these runs show** ({steps} steps, {seeds} seeds per variant, held-out loss mean ± std):': '**Что показывают эти прогоны** ({steps} шагов, {seeds} зерна на вариант, потери на отложенных данных, среднее ± std):',
    'the loss above shows no penalty for it': 'потери выше не показывают за это штрафа',
    'here {names} lowered the loss, so imbalance did cost some quality': 'здесь {names} снизили потери, так что дисбаланс всё же стоил немного качества',
    '- **What imbalance does not cost at this scale**: with every expert on one device and no capacity limit, an idle expert only wastes its parameters; {penalty}. Its other costs appear elsewhere: dropped tokens under a capacity limit, and throughput when experts sit on different devices (the busiest device sets the pace).': '- **Чего дисбаланс не стоит на этом масштабе**: когда все эксперты на одном устройстве и лимита ёмкости нет, простаивающий эксперт лишь зря хранит параметры; {penalty}. Другие его цены проявляются в другом: отброшенные токены при лимите ёмкости и пропускная способность, когда эксперты на разных устройствах (темп задаёт самое загруженное).',
    '- **z-loss** keeps router logits small, a stability fix (ST-MoE), not a balancing one: compare aux+z with aux.': '- **z-loss** держит логиты маршрутизатора малыми: это средство устойчивости (ST-MoE), а не балансировки; сравните aux+z с aux.',
    'Capacity {capacity:.0f} assignments per expert for {t} tokens (capacity factor {factor} × {t} tokens × top-{k} / {n} experts).': 'Ёмкость {capacity:.0f} назначений на эксперта для {t} токенов (коэффициент ёмкости {factor} × {t} токенов × top-{k} / {n} экспертов).',
    'Expert load over training, layer {layer} (uniform = {share:.1f}%)': 'Нагрузка экспертов за время обучения, слой {layer} (равномерно = {share:.1f}%)',
    'training step': 'шаг обучения',
    '- **Balance**: the load-balancing loss brings the load CV from {cv:.2f} to {aux_cv:.2f} and dead expert slots from {dead:.1f} to {aux_dead:.1f} of {slots}: it does what it says.': '- **Баланс**: вспомогательная потеря балансировки снижает CV нагрузки с {cv:.2f} до {aux_cv:.2f}, а мёртвые слоты экспертов — с {dead:.1f} до {aux_dead:.1f} из {slots}: она делает то, что обещает.',
    'step': 'шаг',
    '% of assignments': '% назначений',
    'nats': 'нат',
    'Per-token loss with and without the capacity limit (lower is better)': 'Потери на токен с лимитом ёмкости и без него (ниже — лучше)',
    'loss (nats)': 'потери (нат)',
    '- layer {layer}: {full} token(s) dropped entirely, {partial} lost one of their experts': '- слой {layer}: токенов отброшено целиком: {full}, потеряли одного из экспертов: {partial}',
    'load CV (0 = even)': 'CV нагрузки (0 = равномерно)',
    'dead expert slots (all layers)': 'мёртвые слоты экспертов (все слои)',
    'training loss (nats/token)': 'потери обучения (нат/токен)',
    'variant': 'вариант',
    'held-out loss (nats)': 'потери на отложенных (нат)',
    'vs none': 'против none',
    'load CV': 'CV нагрузки',
    'dead slots': 'мёртвые слоты',
    'min/max share %': 'мин/макс доля %',
    'dropped %': 'отброшено %',
    'seeds': 'зёрна',
    'what changes': 'что меняется',
    'better': 'лучше',
    'worse': 'хуже',
    'tie': 'ничья',
    'Within the spread (a tie): {names}.': 'В пределах разброса (ничья): {names}.',
    '. Balance decides how many are dropped; compare the losses to see what dropping costs.': '. Баланс решает, сколько отброшено; сравните потери, чтобы увидеть цену отбрасывания.',
    'token': 'токен',
    'Mean loss {a:.3f} nats/token with the limit vs {b:.3f} without ({d:+.3f}).': 'Средние потери {a:.3f} ната/токен с лимитом против {b:.3f} без него ({d:+.3f}).',
    "Load CV = std / mean of the experts' loads; dead = share below 10% of uniform; curves are 10-step means (dead slots unsmoothed)": 'CV нагрузки = std / среднее нагрузок экспертов; мёртвый = доля ниже 10% от равномерной; кривые — средние по 10 шагам (мёртвые слоты без сглаживания)',
    '- **Loss**: without any balancing the model reaches {mean:.3f} ± {std:.3f} nats/token. ': '- **Потери**: без всякой балансировки модель достигает {mean:.3f} ± {std:.3f} ната/токен. ',
    'Worse: {names}. ': 'Хуже: {names}. ',
    "- **Where imbalance costs loss here: a capacity limit.** Tokens over an expert's capacity are dropped: ": '- **Где дисбаланс здесь стоит потерь: лимит ёмкости.** Токены сверх ёмкости эксперта отбрасываются: ',
    'layer {layer}: expert shares': 'слой {layer}: доли экспертов',
    'load CV per layer': 'CV нагрузки по слоям',
    'CV layer {layer}': 'CV слой {layer}',
    'no capacity limit': 'без лимита ёмкости',
    'capacity factor {value}': 'коэффициент ёмкости {value}',
    'dropped in some layer': 'отброшен в каком-то слое',
    'Better beyond the seed spread: {names}. ': 'Лучше за пределами разброса по зёрнам: {names}. ',
    'No method beats it beyond the seed spread. ': 'Ни один метод не превосходит его за пределами разброса по зёрнам. ',
    'expert {e}': 'эксперт {e}',
    '% of tokens': '% токенов',
    '{name} drops {share:.1f}% of assignments': '{name} отбрасывает {share:.1f}% назначений',
    ' ({difference:+.3f} nats/token vs none)': ' ({difference:+.3f} ната/токен против none)',
    'no balancing at all (top-2)': 'никакой балансировки (top-2)',
    'load-balancing auxiliary loss, weight 0.01': 'вспомогательная потеря балансировки, вес 0.01',
    'noisy top-k alone (learned noise scale, Shazeer 2017), no aux loss': 'только шумный top-k (обучаемый масштаб шума, Shazeer 2017), без aux',
    'aux loss + noisy top-k': 'aux + шумный top-k',
    'aux loss + router z-loss, weight 0.001 (ST-MoE; z-loss is a stability fix, not a balancing one)': 'aux + z-loss маршрутизатора, вес 0.001 (ST-MoE; z-loss — средство устойчивости, а не балансировки)',
    'bias-based balancing, no aux loss (DeepSeek-V3), update rate 0.001': 'балансировка смещениями, без aux (DeepSeek-V3), шаг 0.001',
    'top-1 routing alone, no balancing': 'только маршрутизация top-1, без балансировки',
    'top-1 with capacity factor 1.25 (overflow tokens dropped), no aux loss': 'top-1 с коэффициентом ёмкости 1.25 (лишние токены отбрасываются), без aux',
    'top-1 + capacity factor 1.25 + aux loss (the Switch Transformer recipe)': 'top-1 + коэффициент ёмкости 1.25 + aux (рецепт Switch Transformer)',
    'collapse probe: top-1, no balancing, learning rate 9e-3': 'проба коллапса: top-1, без балансировки, скорость обучения 9e-3',
    'metric': 'метрика',
    'n/a': 'н/д',
    'Timed here; other processes used {used:.1f} of {cores} cores, repetitions within {spread:.0f}% of their median': 'Измерено здесь; другие процессы заняли {used:.1f} из {cores} ядер, повторы в пределах {spread:.0f}% от медианы',
    '**Training text** (the held-out split below is disjoint by document and never trained on):': '**Обучающий текст** (отложенная часть ниже не пересекается с ним по документам и в обучении не участвовала):',
    'domain': 'домен',
    'source': 'источник',
    'training documents': 'обучающих документов',
    'training bytes': 'обучающих байт',
    'held-out bytes': 'отложенных байт',
    'english': 'английский',
    'russian': 'русский',
    'python': 'python',
    'arithmetic': 'арифметика',
    '**Models**: byte-level BPE vocabulary of {vocab:,} tokens, context {context} tokens. A uniform guess scores ln {vocab:,} = {uniform:.2f} nats per token (perplexity {vocab:,}).': '**Модели**: байтовый словарь BPE из {vocab:,} токенов, контекст {context} токенов. Равномерное угадывание даёт ln {vocab:,} = {uniform:.2f} ната на токен (перплексия {vocab:,}).',
    'model': 'модель',
    'what it is': 'что это',
    'total / active parameters': 'всего / активных параметров',
    'tokens trained': 'токенов обучения',
    'held-out {domain} (nats/token)': 'отложенные, {domain} (нат/токен)',
    'overall': 'всего',
    '{tokens:,} ({steps} steps x {batch} x {context})': '{tokens:,} ({steps} шагов x {batch} x {context})',
    'dense baseline, FFN width 512 (compute-matched to the MoEs)': 'плотная базовая, ширина FFN 512 (равная MoE по вычислениям)',
    'MoE, 4 experts of width 256, top-2': 'MoE, 4 эксперта ширины 256, top-2',
    'MoE, 8 experts of width 256, top-2': 'MoE, 8 экспертов ширины 256, top-2',
    'MoE, 16 experts of width 256, top-2': 'MoE, 16 экспертов ширины 256, top-2',
    'MoE, 32 experts of width 64, top-8 (fine-grained)': 'MoE, 32 эксперта ширины 64, top-8 (мелкозернистая)',
    'dense, FFN width 2048 (parameter-matched to moe-8)': 'плотная, ширина FFN 2048 (равная moe-8 по параметрам)',
    'emoji': 'эмодзи',
    'Chinese or Japanese characters': 'китайских или японских иероглифов',
    'Greek': 'греческого',
    'Arabic': 'арабского',
    'Hebrew': 'иврита',
    'Devanagari': 'деванагари',
    '**What the models never saw**: the training text holds {n} distinct characters ({letters} of them letters); no {absent} at all. The models cannot predict what they never saw: a text full of it gets perplexities far above the uniform guess, and the page says so beside the result.': '**Чего модели никогда не видели**: в обучающем тексте {n} различных символов (из них букв: {letters}); совсем нет: {absent}. Модели не могут предсказать невиданное: текст, полный этого, получает перплексию намного выше равномерного угадывания, и страница говорит об этом рядом с результатом.',
    '**a tie on this text** (the interval contains 0)': '**ничья на этом тексте** (интервал содержит 0)',
    '**{model} predicts this text better**': '**{model} предсказывает этот текст лучше**',
    '**Is the difference real on this text?** Paired bootstrap over its tokens (2,000 resamples; neighbouring tokens are correlated, so the intervals are if anything too narrow):': '**Реальна ли разница на этом тексте?** Парный бутстрэп по его токенам (2000 повторных выборок; соседние токены коррелируют, так что интервалы скорее слишком узки):',
    'total parameters': 'всего параметров',
    'active parameters per token': 'активных параметров на токен',
    "forward FLOPs per token (this text's length)": 'FLOPs прямого прохода на токен (при длине этого текста)',
    'perplexity on this text (95% interval)': 'перплексия на этом тексте (95% интервал)',
    'mean loss on this text (nats/token, 95% interval)': 'средние потери на этом тексте (нат/токен, 95% интервал)',
    'Parameters stored (total) and used per token (active)': 'Параметры хранимые (всего) и используемые на токен (активные)',
    'parameters (millions)': 'параметры (миллионы)',
    'How surprised each model is by each token (lower is better)': 'Насколько каждая модель удивлена каждым токеном (ниже — лучше)',
    '- {a} minus {b}: {mean:+.3f} nats/token (95% interval {low:+.3f} to {high:+.3f}): ': '- {a} минус {b}: {mean:+.3f} ната/токен (95% интервал от {low:+.3f} до {high:+.3f}): ',
    'prefill time (ms, median)': 'время prefill (мс, медиана)',
    'decode speed (tokens/s, median)': 'скорость decode (токенов/с, медиана)',
    'total': 'всего',
    'active/token': 'активно/токен',
    'Latency not measured yet': 'Задержка ещё не измерена',
    'prefill, {n} tokens: ms (lower = faster)': 'prefill, {n} токенов: мс (ниже — быстрее)',
    'decode: tokens/s (higher = faster)': 'decode: токенов/с (выше — быстрее)',
    '⚠ Unreliable timing: ': '⚠ Ненадёжный замер: ',
    'median; bars show min-max': 'медиана; отрезки — мин-макс',
    'M parameters': 'M параметров',
    'embedding': 'эмбеддинг',
    'attention': 'внимание',
    'norms': 'нормировки',
    'router': 'маршрутизатор',
    'experts (routed)': 'эксперты (маршрутизируемые)',
    'shared experts': 'общие эксперты',
    'dense FFN': 'плотная FFN',
    'output head': 'выходная голова',
    'greedy': 'жадно',
    'sampled: temperature {t:g}, top-p {p:g}, seed {seed}': 'сэмплирование: температура {t:g}, top-p {p:g}, зерно {seed}',
    ' (its first tokens left out to fit the context)': ' (первые токены опущены, чтобы уместиться в контекст)',
    'dense': 'плотная',
    '{new} new tokens after a prompt of {prompt} tokens{cut}; {how}.': '{new} новых токенов после затравки из {prompt} токенов{cut}; {how}.',
    '{n} tokens in {s:.2f} s = <b>{speed:.0f} tokens/s</b>': '{n} токенов за {s:.2f} с = <b>{speed:.0f} токенов/с</b>',
    'expert {e} (layer {layer})': 'эксперт {e} (слой {layer})',
    'trained with top-{k}': 'обучена с top-{k}',
    'experts per token (top-K)': 'экспертов на токен (top-K)',
    'How many experts does this text need? ({n} tokens)': 'Сколько экспертов нужно этому тексту? ({n} токенов)',
    'Loss change per token: {what}': 'Изменение потерь по токенам: {what}',
    'loss after - before (nats)': 'потери после - до (нат)',
    'Expert load on this text (assignments) before and after; % = tokens whose experts changed': 'Нагрузка экспертов на этом тексте (назначения) до и после; % = токены, у которых сменились эксперты',
    'Expert importance on this text: loss increase when one expert is switched off ({mode}; base {base:.3f} nats/token)': 'Важность экспертов на этом тексте: рост потерь при отключении одного эксперта ({mode}; база {base:.3f} ната/токен)',
    'layer {layer}: {share:.0f}% re-routed': 'слой {layer}: перенаправлено {share:.0f}%',
    'before': 'до',
    'after': 'после',
    'mean loss on this text (nats/token; lower is better)': 'средние потери на этом тексте (нат/токен; ниже — лучше)',
    'decode speed (tokens/s, median; higher is faster)': 'скорость decode (токенов/с, медиана; выше — быстрее)',
    '{name} ({active:.2f} M active)': '{name} ({active:.2f} M активных)',
    'M active parameters': 'M активных параметров',
    'nats/token': 'нат/токен',
    'tokens it hurts most:': 'токены, которым он вредит больше всего:',
    'min-max over repetitions': 'мин-макс по повторам',
    'tokens/s': 'токенов/с',
    'assignments': 'назначений',
    'mean loss (nats/token)': 'средние потери (нат/токен)',
    'perplexity': 'перплексия',
    'active parameters (M)': 'активные параметры (M)',
    'decode (tokens/s, median)': 'decode (токенов/с, медиана)',
    'position': 'позиция',
    'loss before (nats)': 'потери до (нат)',
    'loss after (nats)': 'потери после (нат)',
    'change (nats)': 'изменение (нат)',
    '- **Batch {batch}**: {measured:.2f}x, {share:.0f}% of the memory-bound ideal {ideal:.2f}x.': '- **Батч {batch}**: {measured:.2f}x, {share:.0f}% от идеала при ограничении памятью {ideal:.2f}x.',
    '- **The memory-bound model holds while both layers wait for memory.** The dense layer turns compute-bound from about B = 2 x ceiling / bandwidth = {turn:.0f} tokens ({ceiling:.0f} GFLOP/s, {bandwidth:.0f} GB/s measured in this run); from there the roofline model climbs back toward the FLOP ratio E/K = {ratio:.1f}.': '- **Модель ограничения памятью верна, пока оба слоя ждут память.** Плотный слой упирается в вычисления примерно с B = 2 x потолок / пропускная способность = {turn:.0f} токенов ({ceiling:.0f} GFLOP/s, {bandwidth:.0f} ГБ/с измерено в этом прогоне); дальше модель roofline поднимается обратно к отношению FLOPs E/K = {ratio:.1f}.',
    ' The MoE call takes {ms:.2f} ms longer than K/E of the dense-total call: its fixed cost (router, top-K, dispatch, and 3K separate matrix products instead of 3, each starting from cold memory).': ' Вызов MoE длится на {ms:.2f} мс дольше, чем K/E вызова dense-total: это его постоянная цена (маршрутизатор, top-K, диспетчеризация и 3K отдельных умножений матриц вместо 3, каждое с холодной памяти).',
    'MB fetched per token': 'МБ подгружается на токен',
    'Decode: MoE speedup over the parameter-matched dense layer': 'Decode: ускорение MoE над плотным слоем с тем же числом параметров',
    'speedup (x)': 'ускорение (x)',
    "- **Below the roofline at batch {batch}** ({measured:.2f}x vs {roofline:.2f}x): each expert gets only about B x K/E = {rows:.0f} rows, and such thin products run at {moe:.0f} GFLOP/s on the MoE's active FLOPs against {dense:.0f} GFLOP/s for the dense layer's one wide product.": '- **Ниже roofline при батче {batch}** ({measured:.2f}x против {roofline:.2f}x): каждому эксперту достаётся лишь около B x K/E = {rows:.0f} строк, и такие тонкие произведения идут со скоростью {moe:.0f} GFLOP/s на активных FLOPs MoE против {dense:.0f} GFLOP/s у одного широкого произведения плотного слоя.',
    " That is above the ideal, which assumes both layers stream their weights at the same rate: here dense-total streams its weights at {dense:.0f} GB/s and the MoE its experts at {moe:.0f} GB/s, so the ratio also counts the dense layer's slower streaming (or timing noise, when the run is marked unreliable). It is no gain beyond reading fewer weights.": ' Это выше идеала, который предполагает, что оба слоя читают веса с одной скоростью: здесь dense-total читает свои веса со скоростью {dense:.0f} ГБ/с, а MoE своих экспертов — {moe:.0f} ГБ/с, так что отношение учитывает и более медленное чтение плотного слоя (или шум замера, если прогон помечен ненадёжным). Это не выигрыш сверх чтения меньшего числа весов.',
    "Achieved FLOP/s on active weights, % of this machine's matmul ceiling ({ceiling:.0f} GFLOP/s)": 'Достигнутые FLOP/s на активных весах, % от потолка умножения матриц этой машины ({ceiling:.0f} GFLOP/s)',
    'Expert look-ups served by the N most-used experts of each layer ({model}, {n} tokens of your text)': 'Обращения к экспертам, обслуженные N самыми используемыми экспертами каждого слоя ({model}, {n} токенов вашего текста)',
    'uniform routing': 'равномерная маршрутизация',
    'with the measured skew of {model}': 'с измеренным перекосом {model}',
    '{label}: decode speed if only the hot experts stay in fast memory ({fast:g} GB/s fast, {slow:g} GB/s slow; memory-bound, batch 1)': '{label}: скорость decode, если в быстрой памяти остаются только горячие эксперты ({fast:g} ГБ/с быстрая, {slow:g} ГБ/с медленная; ограничено памятью, батч 1)',
    'uniform routing (N/E)': 'равномерная маршрутизация (N/E)',
    'GB in fast memory': 'ГБ в быстрой памяти',
    'ms per call (median, IQR)': 'мс на вызов (медиана, IQR)',
    'measured (dense-total / fastest MoE backend)': 'измерено (dense-total / самый быстрый бэкенд MoE)',
    'memory-bound ideal: E / E(1-((E-K)/E)^B)': 'идеал при ограничении памятью: E / E(1-((E-K)/E)^B)',
    'roofline: max(bytes / bandwidth, FLOPs / ceiling)': 'roofline: max(байты / пропускная способность, FLOPs / потолок)',
    'FLOP ratio E/K = {ratio:.1f}': 'отношение FLOPs E/K = {ratio:.1f}',
    'batch size (tokens per call)': 'размер батча (токенов на вызов)',
    "- **Departures of more than 25% from the memory-bound curve.** The model assumes both layers stream their weights at the machine's bandwidth ({bandwidth:.0f} GB/s); where one streams slower, the ratio moves: ": '- **Отклонения больше 25% от кривой ограничения памятью.** Модель предполагает, что оба слоя читают веса с пропускной способностью машины ({bandwidth:.0f} ГБ/с); где один читает медленнее, отношение сдвигается: ',
    'tokens per call': 'токенов на вызов',
    '% of ceiling': '% потолка',
    'layer {layer} (measured)': 'слой {layer} (измерено)',
    'experts kept in fast memory per layer': 'экспертов в быстрой памяти на слой',
    '% of look-ups served': '% обслуженных обращений',
    'experts kept in fast memory per MoE layer': 'экспертов в быстрой памяти на слой MoE',
    'batch': 'батч',
    'batch {batch}: {measured:.2f}x measured vs {ideal:.2f}x memory-bound ({roofline:.2f}x roofline), dense-total streams at {dense:.0f} GB/s, the MoE its {read:.1f} experts at {moe:.0f} GB/s': 'батч {batch}: измерено {measured:.2f}x против {ideal:.2f}x при ограничении памятью ({roofline:.2f}x по roofline), dense-total читает со скоростью {dense:.0f} ГБ/с, MoE своих {read:.1f} экспертов — {moe:.0f} ГБ/с',
    'experts cached per layer': 'экспертов в кэше на слой',
    '% of the matmul ceiling': '% потолка умножения матриц',
    '% of look-ups': '% обращений',
    'experts cached': 'экспертов в кэше',
    '{mark}: the rest of the character shown on an earlier token': '{mark}: остаток символа, показанного на одном из предыдущих токенов',
    "token {t} '{label}', layer {layer}: ": "токен {t} '{label}', слой {layer}: ",
    'Layer {layer}, colour = first-choice expert: ': 'Слой {layer}, цвет = эксперт первого выбора: ',
    'First-choice expert of every token in every layer': 'Эксперт первого выбора для каждого токена в каждом слое',
    'uniform load: {share:.1f}% (K/E)': 'равномерная нагрузка: {share:.1f}% (K/E)',
    'Expert load in layer {layer} (% of tokens that chose each expert)': 'Нагрузка экспертов в слое {layer} (% токенов, выбравших каждого эксперта)',
    "Router distribution of token {position} '{token}' in every layer (● = chosen, top-{k})": "Распределение маршрутизатора для токена {position} '{token}' в каждом слое (● = выбран, top-{k})",
    'expert {e}: {w:.2f}': 'эксперт {e}: {w:.2f}',
    '{n} token(s) dropped by the capacity limit': 'токенов отброшено лимитом ёмкости: {n}',
    'capacity: {n:.0f} tokens': 'ёмкость: {n:.0f} токенов',
    'rank': 'ранг',
    ' (dropped: expert full)': ' (отброшен: эксперт заполнен)',
    'dropped': 'отброшено',
    'router %': 'маршрутизатор, %',
    'Total vs active parameters (log scale)': 'Всего против активных параметров (логарифмическая шкала)',
    'parameters': 'параметры',
    'Memory for the weights alone (GB, log scale)': 'Память только под веса (ГБ, логарифмическая шкала)',
    'Forward FLOPs per token at context {context} (GFLOP, log scale)': 'FLOPs прямого прохода на токен при контексте {context} (GFLOP, логарифмическая шкала)',
    'Experts read per MoE layer vs decode batch: E(1-((E-K)/E)^B)': 'Прочитанные эксперты на слой MoE в зависимости от батча decode: E(1-((E-K)/E)^B)',
    'active / token (all)': 'активно / токен (все)',
    'active / token (no input embedding)': 'активно / токен (без входного эмбеддинга)',
    'active / token (non-embedding)': 'активно / токен (без эмбеддингов)',
    "authors' convention": 'соглашение авторов',
    'published figures': 'опубликованные числа',
    'forward GFLOP / token (context {context})': 'GFLOP прямого прохода / токен (контекст {context})',
    'weights bf16 (GB)': 'веса bf16 (ГБ)',
    'weights 4-bit (GB)': 'веса 4 бита (ГБ)',
    'experts (top-K)': 'эксперты (top-K)',
    'fields not understood': 'непонятые поля',
    '**The sources, verbatim**': '**Источники, дословно**',
    'architecture not published': 'архитектура не опубликована',
    'not stated': 'не указано',
    'active per token': 'активно на токен',
    'all': 'все',
    'no_embedding': 'без входного эмбеддинга',
    'non_embedding': 'без эмбеддингов',
    'active': 'активные',
    'batch size (tokens decoded together)': 'размер батча (токенов, декодируемых вместе)',
    '% of experts whose weights are read': '% экспертов, чьи веса читаются',
    '{label} ({n} experts, top-{k})': '{label} ({n} экспертов, top-{k})',
    'agrees': 'совпадает',
    'DIFFERS': 'РАСХОДИТСЯ',
    '% of experts read': '% прочитанных экспертов',
    '**What the numbers show for {model}** (held-out text, first choices):': '**Что показывают числа для {model}** (отложенный текст, первые выборы):',
    '- **Token identity explains most routing**: a lookup router that sends each token to its most frequent expert (fit on half the text, scored on the other half) predicts {shares} of first choices in layers {layers} (chance: {chance:.1f}%).': '- **Идентичность токена объясняет бо́льшую часть маршрутизации**: табличный маршрутизатор, отправляющий каждый токен к его самому частому эксперту (подобран на половине текста, оценён на другой), предсказывает {shares} первых выборов в слоях {layers} (случайно: {chance:.1f}%).',
    "Which experts each domain uses, layer {layer} (colour: share / the expert's share over all domains; pooled first-choice shares {shares})": 'Каких экспертов использует каждый домен, слой {layer} (цвет: доля / доля эксперта по всем доменам; общие доли первого выбора {shares})',
    'uniform 1/E': 'равномерно 1/E',
    'uniform': 'равномерно',
    'share of neighbour pairs': 'доля соседних пар',
    'Do neighbouring tokens go to the same expert? Layer {layer}': 'Идут ли соседние токены к одному эксперту? Слой {layer}',
    'Experts chosen together for the same token, layer {layer}': 'Эксперты, выбранные вместе для одного токена, слой {layer}',
    'How confident is the router? Layer {layer}': 'Насколько уверен маршрутизатор? Слой {layer}',
    'same first-choice expert': 'тот же эксперт первого выбора',
    'any shared top-{k} expert': 'общий эксперт из top-{k}',
    'top-1 router probability': 'вероятность top-1 у маршрутизатора',
    'router entropy (nats; max ln {e} = {max:.2f})': 'энтропия маршрутизатора (нат; максимум ln {e} = {max:.2f})',
    "tokens most often routed here (share of the token's occurrences)": 'токены, чаще всего направляемые сюда (доля вхождений токена)',
    "- **Domain beyond token identity**: I(expert; domain | token) = {measured} nats by layer, against {null} when the domain labels are shuffled among each token's occurrences (mean of {n} shuffles; the most it could be is ln {domains} = {most:.2f}). ": '- **Домен сверх идентичности токена**: I(эксперт; домен | токен) = {measured} ната по слоям против {null}, когда метки доменов перемешаны между вхождениями каждого токена (среднее по {n} перемешиваниям; максимум возможного — ln {domains} = {most:.2f}). ',
    "- So these are **not topic experts**: most of what looks like a 'Russian' or 'code' expert is a preference for the tokens those texts contain. Mixtral (Jiang et al. 2024, §5) found no obvious topic-based expert assignment, only syntactic regularities; OLMoE (Muennighoff et al. 2024) reports domain and vocabulary specialisation in its experts. What we find sits between: token-level routing with a small, measurable domain effect": '- Значит, это **не тематические эксперты**: бо́льшая часть того, что выглядит «русским» или «кодовым» экспертом, — предпочтение токенов, которые есть в таких текстах. Mixtral (Jiang et al. 2024, §5) не нашёл явного распределения экспертов по темам, лишь синтаксические закономерности; OLMoE (Muennighoff et al. 2024) сообщает о специализации своих экспертов по доменам и словарю. Мы находим нечто посередине: маршрутизацию на уровне токенов с небольшим, но измеримым эффектом домена',
    '(no token seen often enough)': '(ни один токен не встречался достаточно часто)',
    "Above the shuffles' 95th percentile in layers {layers}: the same token is routed somewhat differently in different domains, most in the deepest layers (largest {largest:.3f} nats, {share:.0f}% of the domain's entropy).": 'Выше 95-го перцентиля перемешиваний в слоях {layers}: один и тот же токен маршрутизируется в разных доменах немного по-разному, сильнее всего в глубоких слоях (наибольшее {largest:.3f} ната, {share:.0f}% энтропии домена).',
    'Nowhere above the null: the domain adds nothing measurable beyond the tokens themselves.': 'Нигде не выше нуля: домен не добавляет ничего измеримого сверх самих токенов.',
    ' in the deeper layers.': ' в глубоких слоях.',
    ', here none.': ', здесь — никаким.',
    '× pooled load': '× общей нагрузки',
    'first choices measured / predicted by token identity alone:': 'первые выборы измеренные / предсказанные одной идентичностью токена:',
    '× its pooled share': '× его общей доли',
    'chosen together': 'выбраны вместе',
    'experts': 'эксперты',
    'of assignments': 'назначений',
    'measured': 'измерено',
    'shuffled order': 'перемешанный порядок',
    'load-implied (Σp²)': 'по нагрузке (Σp²)',
    'token-identity lookup': 'таблица по идентичности токена',
    'language changed': 'язык сменился',
    'held-out loss vs tokens seen': 'потери на отложенных в зависимости от увиденных токенов',
    'held-out loss vs training FLOPs (3 x forward)': 'потери на отложенных в зависимости от FLOPs обучения (3 x прямой проход)',
    'training tokens seen': 'увиденные при обучении токены',
    'training FLOPs': 'FLOPs обучения',
    'held-out loss (nats/token)': 'потери на отложенных (нат/токен)',
    'Training curves': 'Кривые обучения',
    'baseline counted on the training split': 'базовая модель, подсчитанная на обучающей части',
}
