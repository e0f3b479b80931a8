// kstreams web UI: topology graph (inline SVG, layered top-down layout per sub-topology).
// Exposes window.KsGraph.render(container, topology) -> { update(stats), rerender() }.
(() => {
  'use strict';

  const NS = 'http://www.w3.org/2000/svg';
  const NODE_H = 30;
  const TOPIC_IN_H = 38;
  const STORE_H = 42;
  const LAYER_GAP = 34;
  const NODE_GAP = 18;
  const PAD = 18;
  const HEAD = 34;
  const BOX_GAP = 28;
  const MIN_BOX_W = 300;
  const SKEW = 9;
  const INTERNAL_TOPIC = /-(repartition|changelog)$/;

  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, content, cls) {
    const t = el('text', { x, y, class: cls }, parent);
    t.textContent = content;
    return t;
  }

  // Text measurement with a hidden SVG so widths follow the real CSS font.
  function makeMeasurer(container) {
    const svg = el('svg', { class: 'ks-graph', width: 0, height: 0, style: 'position:absolute;visibility:hidden' });
    container.appendChild(svg);
    const cache = new Map();
    return {
      width(s, cls) {
        const k = cls + '\u0000' + s;
        if (!cache.has(k)) {
          const t = text(svg, 0, 0, s, cls);
          cache.set(k, Math.ceil(t.getComputedTextLength()));
          t.remove();
        }
        return cache.get(k);
      },
      dispose() { svg.remove(); },
    };
  }

  // Lays out one sub-topology (or the global stores group) in local coordinates.
  function layoutSub(sub, m) {
    const nodes = sub.nodes || [];
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const preds = new Map(nodes.map((n) => [n.name, new Set()]));
    for (const n of nodes) {
      for (const p of n.predecessors || []) if (byName.has(p)) preds.get(n.name).add(p);
      for (const s of n.successors || []) if (byName.has(s)) preds.get(s).add(n.name);
    }
    const layer = new Map();
    const visiting = new Set();
    const layerOf = (name) => {
      if (layer.has(name)) return layer.get(name);
      if (visiting.has(name)) return 1; // cycle guard
      visiting.add(name);
      const ps = [...preds.get(name)];
      const v = ps.length ? Math.max(...ps.map(layerOf)) + 1 : 1;
      visiting.delete(name);
      layer.set(name, v);
      return v;
    };

    const items = new Map();
    const edges = [];
    const add = (id, it) => {
      if (!items.has(id)) items.set(id, { id, ...it });
      return items.get(id);
    };
    for (const n of nodes) {
      const L = layerOf(n.name);
      const w = Math.max(150, m.width(n.name, 'n-label') + 24);
      add('n:' + n.name, { kind: n.type, name: n.name, layer: L, w, h: NODE_H, order: items.size });
      if (n.type === 'source') {
        for (const topic of n.topics || []) {
          const tw = Math.max(120, m.width(topic, 'n-label') + 24 + SKEW * 2);
          add('ti:' + topic, { kind: 'topic', dir: 'in', name: topic, layer: 0, w: tw, h: TOPIC_IN_H, order: items.size });
          edges.push({ from: 'ti:' + topic, to: 'n:' + n.name });
        }
      }
    }
    for (const n of nodes) {
      for (const s of n.successors || []) if (byName.has(s)) edges.push({ from: 'n:' + n.name, to: 'n:' + s });
      if (n.type === 'sink') {
        const topic = n.topic == null ? '(dynamic topic)' : n.topic;
        const tw = Math.max(120, m.width(topic, 'n-label') + 24 + SKEW * 2);
        const it = add('to:' + topic, { kind: 'topic', dir: 'out', name: topic, dynamic: n.topic == null, layer: 0, w: tw, h: NODE_H, order: items.size });
        it.layer = Math.max(it.layer, layerOf(n.name) + 1);
        edges.push({ from: 'n:' + n.name, to: 'to:' + topic });
      }
    }
    // Stores: placed right after the first processor that uses them.
    const storeOwner = new Map();
    for (const n of nodes) {
      for (const s of n.stores || []) {
        const w = Math.max(110, m.width(s, 'n-label') + 26);
        const owner = storeOwner.get(s);
        if (!owner || layerOf(n.name) < layerOf(owner)) storeOwner.set(s, n.name);
        add('s:' + s, { kind: 'store', name: s, layer: 0, w, h: STORE_H, order: items.size });
        edges.push({ from: 'n:' + n.name, to: 's:' + s, store: true });
      }
    }
    for (const [s, owner] of storeOwner) items.get('s:' + s).layer = layerOf(owner);

    // Ordering inside layers: discovery order, then barycenter sweeps.
    const maxLayer = Math.max(0, ...[...items.values()].map((i) => i.layer));
    const layers = Array.from({ length: maxLayer + 1 }, () => []);
    for (const it of items.values()) if (it.kind !== 'store') layers[it.layer].push(it);
    for (const l of layers) l.sort((a, b) => a.order - b.order);
    const predsOf = new Map();
    for (const e of edges) {
      if (e.store) continue;
      if (!predsOf.has(e.to)) predsOf.set(e.to, []);
      predsOf.get(e.to).push(e.from);
    }
    const posOf = () => {
      const pos = new Map();
      for (const l of layers) l.forEach((it, i) => pos.set(it.id, (i + 0.5) / l.length));
      return pos;
    };
    for (let sweep = 0; sweep < 3; sweep++) {
      for (let k = 1; k <= maxLayer; k++) {
        const pos = posOf();
        const bary = (it) => {
          const ps = (predsOf.get(it.id) || []).filter((p) => pos.has(p));
          return ps.length ? ps.reduce((a, p) => a + pos.get(p), 0) / ps.length : pos.get(it.id);
        };
        layers[k] = layers[k].map((it) => [it, bary(it)]).sort((a, b) => a[1] - b[1]).map((x) => x[0]);
      }
    }
    // Coordinates: center the flow nodes of each layer (stores excluded, so chains stay
    // straight), then hang each store to the right of its processor, pushing neighbours right.
    const layerW = layers.map((l) => l.reduce((a, it) => a + it.w, 0) + NODE_GAP * Math.max(0, l.length - 1));
    const coreW = Math.max(MIN_BOX_W - PAD * 2, ...layerW);
    const storesAt = new Map();
    for (const [s, owner] of storeOwner) {
      if (!storesAt.has(owner)) storesAt.set(owner, []);
      storesAt.get(owner).push(items.get('s:' + s));
    }
    const layerH = layers.map((l) => Math.max(0, ...l.map((it) => it.h), ...l.flatMap((it) => (storesAt.get(it.name) || []).map((st) => st.h))));
    let y = HEAD;
    let right = PAD + coreW;
    layers.forEach((l, k) => {
      if (!l.length) return;
      let x = PAD + (coreW - layerW[k]) / 2;
      for (const it of l) {
        it.x = x;
        it.y = y + (layerH[k] - it.h) / 2;
        x += it.w + NODE_GAP;
        if (it.kind === 'processor' || it.kind === 'source' || it.kind === 'sink') {
          for (const st of storesAt.get(it.name) || []) {
            st.x = x;
            st.y = y + (layerH[k] - st.h) / 2;
            x += st.w + NODE_GAP;
          }
        }
      }
      right = Math.max(right, x - NODE_GAP);
      y += layerH[k] + LAYER_GAP;
    });
    return { items, edges, w: right + PAD, h: y - LAYER_GAP + PAD };
  }

  function globalStoresAsSub(globals) {
    const nodes = [];
    for (const g of globals) {
      nodes.push({ type: 'source', name: g.source, topics: [g.topic], successors: [g.processor] });
      nodes.push({ type: 'processor', name: g.processor, stores: [g.store], predecessors: [g.source] });
    }
    return { nodes };
  }

  function drawNode(g, it) {
    const attrs = { class: 'n n-' + it.kind, transform: `translate(${it.x},${it.y})` };
    if (it.kind === 'topic') {
      attrs['data-topic'] = it.name;
      if (INTERNAL_TOPIC.test(it.name)) attrs.class += ' n-internal';
      if (it.dynamic) attrs.class += ' n-dynamic';
      attrs.class += ' n-topic-' + it.dir;
    } else if (it.kind === 'store') {
      attrs['data-store'] = it.name;
    } else {
      attrs['data-node'] = it.name;
    }
    const grp = el('g', attrs, g);
    const kindLabel = it.kind === 'topic' ? (INTERNAL_TOPIC.test(it.name) ? 'internal topic' : 'topic') : it.kind;
    el('title', {}, grp).textContent = `${kindLabel}: ${it.name}`;
    const { w, h } = it;
    if (it.kind === 'topic') {
      el('polygon', { class: 'shape', points: `${SKEW},0 ${w},0 ${w - SKEW},${h} 0,${h}` }, grp);
      if (it.dir === 'in') {
        text(grp, w / 2, 15, it.name, 'n-label');
        it.lagText = text(grp, w / 2, 30, 'lag –', 'n-sub');
      } else {
        text(grp, w / 2, h / 2 + 4, it.name, 'n-label');
      }
    } else if (it.kind === 'store') {
      const ry = 5;
      el('path', { class: 'shape', d: `M0,${ry} a${w / 2},${ry} 0 0,1 ${w},0 v${h - 2 * ry} a${w / 2},${ry} 0 0,1 ${-w},0 z` }, grp);
      el('path', { class: 'rim', d: `M0,${ry} a${w / 2},${ry} 0 0,0 ${w},0` }, grp);
      text(grp, w / 2, h / 2 + 7, it.name, 'n-label');
    } else {
      el('rect', { class: 'shape', width: w, height: h, rx: 6 }, grp);
      text(grp, w / 2, h / 2 + 4, it.name, 'n-label');
    }
  }

  function drawEdge(g, a, b, isStore) {
    let d;
    if (isStore && a.layer === b.layer) {
      const y = a.y + a.h / 2;
      const [x1, x2] = a.x < b.x ? [a.x + a.w, b.x] : [a.x, b.x + b.w];
      d = `M${x1},${y} L${x2},${b.y + b.h / 2}`;
    } else {
      const x1 = a.x + a.w / 2;
      const y1 = a.y + a.h;
      const x2 = b.x + b.w / 2;
      const y2 = b.y;
      const c = Math.max(16, (y2 - y1) / 2);
      d = `M${x1},${y1} C${x1},${y1 + c} ${x2},${y2 - c} ${x2},${y2}`;
    }
    el('path', { class: isStore ? 'e e-store' : 'e', d, 'marker-end': isStore ? null : 'url(#ks-arrow)' }, g);
  }

  function render(container, topology) {
    const state = { topology, subBoxes: new Map(), topicIn: new Map(), lastStats: null };

    function build() {
      container.replaceChildren();
      const m = makeMeasurer(container);
      const groups = (topology.subtopologies || []).map((s) => ({ id: s.id, title: `Sub-topology ${s.id}`, lay: layoutSub(s, m) }));
      const globals = topology.global_stores || [];
      if (globals.length) groups.push({ id: 'global', title: 'Global stores', lay: layoutSub(globalStoresAsSub(globals), m) });
      m.dispose();

      // Flow the boxes into rows that fit the container width.
      const avail = Math.max(640, container.clientWidth - 2);
      let x = 0;
      let y = 0;
      let rowH = 0;
      let maxW = 0;
      for (const gr of groups) {
        if (x > 0 && x + gr.lay.w > avail) {
          x = 0;
          y += rowH + BOX_GAP;
          rowH = 0;
        }
        gr.x = x;
        gr.y = y;
        x += gr.lay.w + BOX_GAP;
        rowH = Math.max(rowH, gr.lay.h);
        maxW = Math.max(maxW, gr.x + gr.lay.w);
      }
      const totalH = y + rowH;
      const svg = el('svg', { class: 'ks-graph', width: maxW + 2, height: totalH + 2, viewBox: `-1 -1 ${maxW + 2} ${totalH + 2}`, role: 'img', 'aria-label': 'Topology graph' });
      const defs = el('defs', {}, svg);
      const mk = el('marker', { id: 'ks-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }, mk);

      state.subBoxes.clear();
      state.topicIn.clear();
      const absolute = [];
      for (const gr of groups) {
        const g = el('g', { class: 'sub', transform: `translate(${gr.x},${gr.y})`, 'data-subtopology': gr.id }, svg);
        el('rect', { class: 'sub-box', width: gr.lay.w, height: gr.lay.h, rx: 10 }, g);
        text(g, 14, 21, gr.title, 'sub-title');
        const stats = text(g, gr.lay.w - 14, 21, '', 'sub-stats');
        state.subBoxes.set(String(gr.id), stats);
        const eg = el('g', { class: 'edges' }, g);
        const ng = el('g', { class: 'nodes' }, g);
        for (const e of gr.lay.edges) drawEdge(eg, gr.lay.items.get(e.from), gr.lay.items.get(e.to), e.store);
        for (const it of gr.lay.items.values()) {
          drawNode(ng, it);
          if (it.kind === 'topic') {
            absolute.push({ it, ax: gr.x + it.x, ay: gr.y + it.y, gid: gr.id });
            if (it.lagText) {
              if (!state.topicIn.has(it.name)) state.topicIn.set(it.name, []);
              state.topicIn.get(it.name).push(it.lagText);
            }
          }
        }
      }
      // Dashed links between a sink's topic and the sources reading it in other sub-topologies.
      const lg = el('g', { class: 'xlinks' }, svg);
      for (const o of absolute.filter((a) => a.it.dir === 'out')) {
        for (const i of absolute.filter((a) => a.it.dir === 'in' && a.it.name === o.it.name && a.gid !== o.gid)) {
          let d;
          if (i.ax > o.ax + o.it.w) {
            // Target to the right: leave sideways.
            const x1 = o.ax + o.it.w - SKEW / 2;
            const y1 = o.ay + o.it.h / 2;
            const x2 = i.ax + SKEW / 2;
            const y2 = i.ay + i.it.h / 2;
            const c = Math.max(40, (x2 - x1) / 2);
            d = `M${x1},${y1} C${x1 + c},${y1} ${x2 - c},${y2} ${x2},${y2}`;
          } else {
            // Target in a later row (or to the left): leave downwards, enter from the top.
            const x1 = o.ax + o.it.w / 2;
            const y1 = o.ay + o.it.h;
            const x2 = i.ax + i.it.w / 2;
            const y2 = i.ay;
            const c = Math.max(40, Math.abs(y2 - y1) / 2);
            d = `M${x1},${y1} C${x1},${y1 + c} ${x2},${y2 - c} ${x2},${y2}`;
          }
          el('path', { class: 'xlink', d, 'marker-end': 'url(#ks-arrow)' }, lg);
        }
      }
      container.appendChild(svg);
      if (state.lastStats) update(state.lastStats);
    }

    // stats: { subs: Map(subId -> {tasks, rate}), topicLag: Map(topic -> lag) }
    function update(stats) {
      state.lastStats = stats;
      for (const [id, t] of state.subBoxes) {
        const s = stats.subs.get(id);
        t.textContent = s ? `${s.tasks} task${s.tasks === 1 ? '' : 's'} · ${s.rateText}` : (id === 'global' ? '' : 'no active tasks');
      }
      for (const [topic, texts] of state.topicIn) {
        const lag = stats.topicLag.get(topic);
        for (const t of texts) {
          t.textContent = lag == null ? 'lag –' : `lag ${lag.toLocaleString('en-US')}`;
          t.classList.toggle('lagging', lag != null && lag > 0);
        }
      }
    }

    build();
    let lastW = container.clientWidth;
    let timer = null;
    window.addEventListener('resize', () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (container.clientWidth !== lastW) {
          lastW = container.clientWidth;
          build();
        }
      }, 150);
    });
    return { update, rerender: build };
  }

  window.KsGraph = { render, isInternalTopic: (t) => INTERNAL_TOPIC.test(t) };
})();
