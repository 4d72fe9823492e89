// Small browser-side helpers, written for the codellama-lite workbook.
'use strict';

/**
 * Delay calls to `fn` until `waitMs` milliseconds have passed without a new call.
 * @param {Function} fn
 * @param {number} waitMs
 */
function debounce(fn, waitMs = 200) {
  let timer = null;
  return function debounced(...args) {
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
      timer = null;
      fn.apply(this, args);
    }, waitMs);
  };
}

/** Group an array of objects by the value of `key`. */
const groupBy = (items, key) =>
  items.reduce((groups, item) => {
    const value = item[key];
    (groups[value] ||= []).push(item);
    return groups;
  }, {});

class TodoList {
  #items = [];

  add(title, { priority = 'normal', tags = [] } = {}) {
    if (!title || typeof title !== 'string') {
      throw new TypeError(`a todo needs a title, got ${JSON.stringify(title)}`);
    }
    const item = { id: this.#items.length + 1, title, priority, tags, done: false };
    this.#items.push(item);
    return item;
  }

  complete(id) {
    const item = this.#items.find((candidate) => candidate.id === id);
    if (item) item.done = true;
    return Boolean(item);
  }

  get pending() {
    return this.#items.filter((item) => !item.done);
  }

  summary() {
    const byPriority = groupBy(this.pending, 'priority');
    return Object.entries(byPriority)
      .map(([priority, items]) => `${priority}: ${items.length}`)
      .join(', ');
  }
}

async function loadTodos(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    throw new Error(`GET ${url} failed with ${response.status}`);
  }
  const list = new TodoList();
  for (const { title, priority } of await response.json()) {
    list.add(title, { priority });
  }
  return list;
}

module.exports = { debounce, groupBy, TodoList, loadTodos };
