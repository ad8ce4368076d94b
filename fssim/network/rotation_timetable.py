"""When the designed buses stop: slot lines in tour order and days that fit the crew's hours (steps 3–5 of
fssim.network.rotation).

A bus has `stops_per_day × len(days)` half-day slots a week over a cycle of `weeks_in_cycle` weeks; its stops
follow a closed tour from the base (nearest neighbour, then 2-opt), the stops serving most people are weekly and
the others share a slot, one week each. Every day of the cycle must fit: the crew leaves the base, drives to
each stop before its window opens, lunches in the longest gap and is back in time; a day that does not fit is
tried the other way round, then its breaking stop is dropped, and empty slots are refilled with what fits.
"""

from __future__ import annotations

import math

import numpy as np

from fssim.network.tour import minutes_matrix, solve_tour


class RotationTimetable:
    """Slot lines, day travel and refill for RotationDesign (its `days`, `windows`, `crew`, `lunch_minutes`,
    `_lunch_at`, `slots_per_week`, `stops_per_day`, `weeks`, `model`, the candidates `_cand` and, from
    StopSelection, `_ranked`, `_gains`, `_take`, `_release`)."""

    def _plan_bus(self, b: int, base: dict, stops: list[int], reach: np.ndarray) -> dict:
        """Local travel matrix (base and the candidates it reaches), ordered lines; days made to fit."""
        local = np.flatnonzero(reach)
        nodes_lat = np.r_[base["lat"], self._lat[self._cand[local]]]
        nodes_lon = np.r_[base["lon"], self._lon[self._cand[local]]]
        dens = np.r_[np.array([base["density"]], dtype=object), self._dens[self._cand[local]]]
        plan = {"bus": b, "base": base, "node_of": {int(j): i + 1 for i, j in enumerate(local)},
                "t": minutes_matrix(self.model, nodes_lat, nodes_lon, dens)}
        plan["lines"] = self._lines(plan, stops)
        for d in range(len(self.days)):
            self._repair_day(plan, d)
        return plan

    def _weekly_count(self, n: int) -> int:
        """Weekly stops for a bus with n stops: the most that still fit the slots (k weekly lines plus the
        others W to a line): the configured number for a full bus, more when stops are few."""
        S, W = self.slots_per_week, self.weeks
        if W == 1:
            return min(n, S)
        return max(k for k in range(min(n, S) + 1) if k + math.ceil((n - k) / W) <= S)

    def _lines(self, plan: dict, stops: list[int]) -> list[dict]:
        """Slot lines in tour order: a weekly stop fills a line; W rotating stops share one, a week each."""
        S, W = self.slots_per_week, self.weeks
        if not stops:
            return [{"weekly": False, "members": [None] * W} for _ in range(S)]
        node = plan["node_of"]
        sub = [0] + [node[j] for j in stops]
        order = solve_tour(plan["t"][np.ix_(sub, sub)], 0)
        tour = [stops[i - 1] for i in order]
        catch = self._catch
        k = self._weekly_count(len(stops))
        ranked = sorted(stops, key=lambda j: (-catch[j], -self._pop[self._cand[j]], self._codes[self._cand[j]]))
        weekly = set(ranked[:k])
        lines, group = [], []
        for j in tour:
            if j in weekly:
                lines.append({"weekly": True, "members": [j] * W})
            else:
                group.append(j)
                if len(group) == W:
                    lines.append({"weekly": False, "members": group})
                    group = []
        if group:
            lines.append({"weekly": False, "members": group + [None] * (W - len(group))})
        while len(lines) < S:
            lines.append({"weekly": False, "members": [None] * W})
        return lines

    # --- travel feasibility --------------------------------------------------------------------------------
    def _day_legs(self, plan: dict, day_lines: list[dict], week: int, extra=None):
        """Legs of one day in one week: (from node, to node, minutes, available minutes, position of the
        stop responsible). `extra` = (position, candidate) tries a candidate in an empty slot."""
        seq = []
        for pos, line in enumerate(day_lines):
            j = line["members"][week]
            if extra is not None and extra[0] == pos:
                j = extra[1]
            if j is not None:
                seq.append((pos, plan["node_of"][j]))
        legs, prev_node, prev_end = [], 0, self.crew[0]
        for pos, nd in seq:
            start = self.windows[pos][0]
            legs.append((prev_node, nd, plan["t"][prev_node, nd], self._available(prev_end, start), pos))
            prev_node, prev_end = nd, self.windows[pos][1]
        if seq:
            legs.append((prev_node, 0, plan["t"][prev_node, 0], self._available(prev_end, self.crew[1]), seq[-1][0]))
        return legs

    def _available(self, free_from: float, due: float) -> float:
        """Driving minutes between two fixed times of the crew's day, less lunch when it falls between them."""
        lunch = self.lunch_minutes if self._lunch_at is not None and free_from <= self._lunch_at < due else 0.0
        return due - free_from - lunch

    def _day_ok(self, plan, day_lines, week, extra=None) -> bool:
        return all(m <= avail + 1e-9 for _, _, m, avail, _ in self._day_legs(plan, day_lines, week, extra))

    def _repair_day(self, plan: dict, d: int) -> None:
        """Make every week of day d fit: try the lines in reverse window order, then drop breaking stops."""
        spd, W = self.stops_per_day, self.weeks
        lines = plan["lines"][d * spd:(d + 1) * spd]

        def bad(day_lines):
            return sum((W if l["weekly"] else 1) for w in range(W) for (_, _, m, avail, pos) in
                       self._day_legs(plan, day_lines, w) if m > avail + 1e-9
                       for l in [day_lines[pos]])

        if spd > 1 and bad(lines) and bad(lines[::-1]) < bad(lines):
            lines = lines[::-1]
        for w in range(W):
            while not self._day_ok(plan, lines, w):
                legs = [leg for leg in self._day_legs(plan, lines, w) if leg[2] > leg[3] + 1e-9]
                positions = {leg[4] for leg in legs} | {self._prev_pos(lines, w, leg[4]) for leg in legs}
                positions.discard(None)
                # drop a rotating stop first, the one reaching fewest people
                p = min(positions, key=lambda p: (lines[p]["weekly"], self._reach_pop[lines[p]["members"][w]], p))
                j = lines[p]["members"][w]
                frm, _, m, avail, _ = legs[0]
                reason = (f"{self.days[d]} week {w + 1}: {m:.0f} min of driving from "
                          f"{'the base' if frm == 0 else 'the previous stop'} for {avail:.0f} min available")
                if lines[p]["weekly"]:
                    lines[p] = {"weekly": False, "members": [None] * W}
                else:
                    lines[p]["members"][w] = None
                self._release(j)
                self._drop(plan["bus"], j, reason)
        plan["lines"][d * spd:(d + 1) * spd] = lines

    @staticmethod
    def _prev_pos(lines, w, pos):
        for p in range(pos - 1, -1, -1):
            if lines[p]["members"][w] is not None:
                return p
        return None

    def _refill(self) -> None:
        """Fill empty slots: first, week by week, with unused candidates that bring people within reach; then an
        empty line with one weekly stop; then any unused candidate; last, when candidates have run out, with
        another visit to one of the bus's own stops (never twice the same day). Each must fit the day's travel."""
        spd, W = self.stops_per_day, self.weeks
        self._repeats = 0
        for plan in self._plans:
            local = np.zeros(len(self._cand), bool)
            local[list(plan["node_of"])] = True
            for d in range(len(self.days)):
                lines = plan["lines"][d * spd:(d + 1) * spd]
                for stage in ("gain", "weekly", "any", "repeat"):
                    for pos in range(spd):
                        if stage in ("weekly", "repeat") and all(m is None for m in lines[pos]["members"]):
                            pool = self._own_pool(plan, lines, range(W)) if stage == "repeat" else local & ~self._used
                            j = self._first_fit(plan, lines, pos, range(W), pool, False)
                            if j is not None:
                                lines[pos] = {"weekly": True, "members": [j] * W}
                                self._fill(j, stage)
                                continue
                        if stage == "weekly":
                            continue
                        for w in range(W):
                            if lines[pos]["members"][w] is None:
                                pool = self._own_pool(plan, lines, [w]) if stage == "repeat" else local & ~self._used
                                j = self._first_fit(plan, lines, pos, [w], pool, stage == "gain")
                                if j is not None:
                                    lines[pos]["members"][w] = j
                                    self._fill(j, stage)
                plan["lines"][d * spd:(d + 1) * spd] = lines
        if self._repeats:
            self.warnings.append(f"{self._repeats} slot(s) visit a stop a second time in the week: too few "
                                 f"candidate communes within reach of the bases")

    def _fill(self, j: int, stage: str) -> None:
        if stage == "repeat":
            self._repeats += 1
        else:
            self._take(j)

    def _own_pool(self, plan, day_lines, weeks) -> np.ndarray:
        """The bus's own stops that are not already on this day in any of `weeks`."""
        own = {m for line in plan["lines"] for m in line["members"] if m is not None}
        today = {line["members"][w] for line in day_lines for w in weeks}
        pool = np.zeros(len(self._cand), bool)
        pool[[j for j in own - today]] = True
        return pool

    def _first_fit(self, plan, lines, pos, weeks, allowed, gain_only: bool) -> int | None:
        """Best allowed candidate that fits slot `pos` in every one of `weeks`."""
        if gain_only:
            allowed = allowed & (self._gains() > 0)
        for j in self._ranked(allowed):
            if all(self._day_ok(plan, lines, w, (pos, int(j))) for w in weeks):
                return int(j)
        return None

    def _drop(self, bus: int, j: int, reason: str) -> None:
        """Record that stop j left a day of `bus` (the refill may put it back elsewhere: `dropped.moved`)."""
        r = self._cand[j]
        self._dropped_rows.append({"bus": self._bus_id(bus), "commune": self._codes[r], "name": self._names[r],
                                   "population": int(self._pop[r]), "reason": reason})
