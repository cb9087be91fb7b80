"""The itinerary as Markdown: the plan's text (the transcript's outcome, the
terminal, the plan file), in the shape a free-text plan has (a `# ` title,
a `## ` section per day), so everything that reads a plan reads this one."""

from __future__ import annotations

from datetime import date

from workflows.itinerary.model import Day, Item, Itinerary


def day_heading(number: int, day: Day) -> str:
    when = date.fromisoformat(day.date)
    name = f"Day {number} · {when:%a} {when.day} {when:%b}"
    return f"{name}: {day.title}" if day.title else name


def money(amount: float, currency: str) -> str:
    figure = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{figure} {currency}".strip()


def date_range(itinerary: Itinerary) -> str:
    first, last = date.fromisoformat(itinerary.start_date), date.fromisoformat(itinerary.end_date)
    if first == last:
        return f"{first:%a} {first.day} {first:%b %Y}"
    return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"


def travellers_words(count: int) -> str:
    return "1 traveller" if count == 1 else f"{count} travellers"


def day_cost(day: Day) -> float | None:
    costs = [i.cost_per_person for i in day.items if i.cost_per_person is not None]
    return sum(costs) if costs else None


def total_cost(itinerary: Itinerary) -> float:
    return sum(day_cost(d) or 0.0 for d in itinerary.days)


def _item_line(item: Item, currency: str) -> str:
    head = f"**{item.time}** {item.title}" if item.time else f"**All day** {item.title}"
    parts = [head]
    if item.place:
        parts.append(f"📍 {item.place}")
    if item.cost_per_person is not None:
        parts.append(f"{money(item.cost_per_person, currency)} per person")
    if item.source_url:
        parts.append(f"[source]({item.source_url})")
    line = "- " + " · ".join(parts)
    if item.notes:
        line += f"\n  {item.notes}"
    return line


def itinerary_markdown(itinerary: Itinerary) -> str:
    lines = [f"# {itinerary.title}", "", f"{date_range(itinerary)} · {travellers_words(itinerary.travellers)}"]
    if itinerary.summary:
        lines += ["", itinerary.summary]
    for n, day in enumerate(itinerary.days, start=1):
        lines += ["", f"## {day_heading(n, day)}", ""]
        lines += [_item_line(item, itinerary.currency) for item in day.items]
    if itinerary.costed():
        lines += ["", "## Budget per person", "", "| Day | Per person |", "| --- | ---: |"]
        for n, day in enumerate(itinerary.days, start=1):
            cost = day_cost(day)
            if cost is not None:
                lines.append(f"| Day {n} | {money(cost, itinerary.currency)} |")
        total = total_cost(itinerary)
        lines.append(f"| **Total** | **{money(total, itinerary.currency)}** |")
        if itinerary.travellers > 1:
            lines += ["", f"For all {itinerary.travellers}: {money(total * itinerary.travellers, itinerary.currency)}."]
    return "\n".join(lines) + "\n"
