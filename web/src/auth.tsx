// Who is signed in: the bearer token (localStorage), GET /api/auth/me for the role, and the
// reactions to a session that ended (401) or a password change the server insists on (403).

import { useQuery, useQueryClient } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react'
import { useLocation, useNavigate } from 'react-router'
import { api, getToken, onAuthProblem, request, setToken } from './api/client'
import type { LoginResponse, Me, Role } from './api/types'

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/** Whether `role` may do what `needed` may. */
export function roleAtLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[needed]
}

interface AuthState {
  token: string | null
  me: Me | undefined
  loading: boolean
  login: (username: string, password: string, totp?: string) => Promise<LoginResponse>
  logout: () => Promise<void>
  /** The signed-in role is at least `role`. */
  can: (role: Role) => boolean
  refreshMe: () => Promise<unknown>
}

const AuthContext = createContext<AuthState | null>(null)

/** Set from signing out until the next sign-in: requests that were in flight answer 401 (the
 * session is revoked), and the pages left behind redirect to sign-in; neither must turn into
 * "your session ended, sign in again to go back there". */
let signedOut = false

/** Whether the last session ended by signing out (not by expiring). */
export function signedOutOnPurpose(): boolean {
  return signedOut
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [token, setTokenState] = useState<string | null>(getToken)
  const qc = useQueryClient()
  const navigate = useNavigate()
  const location = useLocation()
  const meQuery = useQuery({
    queryKey: ['me', token],
    queryFn: ({ signal }) => api.get<Me>('/api/auth/me', signal),
    enabled: !!token,
    staleTime: 60_000,
    retry: false,
  })

  const clear = useCallback(() => {
    setToken(null)
    setTokenState(null)
    qc.clear()
  }, [qc])

  useEffect(
    () =>
      onAuthProblem((reason) => {
        if (reason === 'signed_out') {
          if (signedOut || !getToken()) return
          clear()
          navigate('/login', { replace: true, state: { from: location.pathname, expired: true } })
        } else {
          navigate('/change-password', { replace: true })
        }
      }),
    [clear, navigate, location.pathname],
  )

  const login = useCallback(
    async (username: string, password: string, totp?: string) => {
      const resp = await request<LoginResponse>('/api/auth/login', {
        method: 'POST',
        body: totp ? { username, password, totp } : { username, password },
        quiet: true,
      })
      qc.clear()
      signedOut = false
      setToken(resp.token)
      setTokenState(resp.token)
      return resp
    },
    [qc],
  )

  const logout = useCallback(async () => {
    signedOut = true
    try {
      await request('/api/auth/logout', { method: 'POST', quiet: true })
    } catch {
      // Signing out locally is what matters.
    }
    clear()
    navigate('/login', { replace: true })
  }, [clear, navigate])

  const me = meQuery.data
  const value = useMemo<AuthState>(
    () => ({
      token,
      me,
      loading: !!token && meQuery.isPending,
      login,
      logout,
      can: (role: Role) => roleAtLeast(me?.role, role),
      refreshMe: () => meQuery.refetch(),
    }),
    [token, me, meQuery, login, logout],
  )
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext)
  if (!ctx) throw new Error('useAuth outside AuthProvider')
  return ctx
}
