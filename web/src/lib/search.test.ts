import { describe, expect, it } from 'vitest'
import { conditionForError, conditionParams, parseConditions, searchQuery, usedConditions, type Condition } from './search'

describe('searchQuery', () => {
  it('puts the table first and every condition as column__op', () => {
    const c: Condition[] = [
      { column: 'name', op: 'contains', value: 'fire fox' },
      { column: 'size', op: 'gte', value: '100' },
      { column: 'pc_id', op: 'eq', value: 'pc-01' },
    ]
    expect(searchQuery('inv_apps', c)).toBe('?table=inv_apps&name__contains=fire+fox&size__gte=100&pc_id__eq=pc-01')
    expect(searchQuery('inv_apps', c, { limit: 25, offset: 50 })).toBe('?table=inv_apps&name__contains=fire+fox&size__gte=100&pc_id__eq=pc-01&limit=25&offset=50')
  })
  it('encodes what would break the query string', () => {
    expect(searchQuery('inv_apps', [{ column: 'name', op: 'eq', value: 'a&b=c %' }])).toBe('?table=inv_apps&name__eq=a%26b%3Dc+%25')
    expect(new URLSearchParams(searchQuery('inv_apps', [{ column: 'name', op: 'eq', value: 'a&b=c %' }])).get('name__eq')).toBe('a&b=c %')
  })
  it('leaves out blank rows and cleans comma lists', () => {
    const c: Condition[] = [
      { column: 'name', op: 'in', value: ' a, b,, c ,' },
      { column: '', op: 'eq', value: 'x' },
      { column: 'version', op: 'eq', value: '   ' },
    ]
    expect(searchQuery('inv_apps', c)).toBe('?table=inv_apps&name__in=a%2Cb%2Cc')
    expect(usedConditions(c)).toHaveLength(1)
    expect(searchQuery('inv_apps', [], { offset: 0 })).toBe('?table=inv_apps')
  })
  it('keeps repeated columns (ranges)', () => {
    const c: Condition[] = [
      { column: 'size', op: 'gt', value: '1' },
      { column: 'size', op: 'lt', value: '9' },
    ]
    expect(conditionParams(c).toString()).toBe('size__gt=1&size__lt=9')
  })
})

describe('parseConditions', () => {
  it('reads back what it built', () => {
    const c: Condition[] = [
      { column: 'name', op: 'startswith', value: 'Fire' },
      { column: 'odd__name', op: 'ne', value: 'x' },
      { column: 'size', op: 'in', value: '1,2' },
    ]
    expect(parseConditions(conditionParams(c).toString())).toEqual(c)
  })
  it('treats a bare or unknown suffix as eq on the whole key, and skips paging', () => {
    expect(parseConditions('table=t&name=x&a__zz=1&limit=5&offset=10')).toEqual([
      { column: 'name', op: 'eq', value: 'x' },
      { column: 'a__zz', op: 'eq', value: '1' },
    ])
  })
  it('finds the row a server error names', () => {
    const c: Condition[] = [
      { column: 'name', op: 'eq', value: 'a' },
      { column: 'nope', op: 'gt', value: '1' },
    ]
    expect(conditionForError(c, 'nope__gt')).toBe(1)
    expect(conditionForError(c, 'table')).toBe(-1)
    expect(conditionForError(c, null)).toBe(-1)
  })
})
